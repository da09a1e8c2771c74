package client

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"

	"github.com/doorface/doorface/transport/api"
)

// Photo is one photo for AddFaces: its bytes and content type (image/jpeg or image/png).
type Photo struct {
	ContentType string
	Body        []byte
}

// AddFaces enrolls several photos for a user in one request (multipart/form-data, one part per
// photo), all or none. force stores templates nearer another user than the user's own too
// (otherwise refused with closer_to_other_user).
func (c *Client) AddFaces(ctx context.Context, id string, photos []Photo, force bool) (api.FaceResponse, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i, p := range photos {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="photo"; filename="photo%d"`, i+1))
		h.Set("Content-Type", p.ContentType)
		w, err := mw.CreatePart(h)
		if err != nil {
			return api.FaceResponse{}, err
		}
		if _, err := w.Write(p.Body); err != nil {
			return api.FaceResponse{}, err
		}
	}
	if err := mw.Close(); err != nil {
		return api.FaceResponse{}, err
	}
	path := "/v1/users/" + url.PathEscape(id) + "/faces"
	if force {
		path += "?force=true"
	}
	var out api.FaceResponse
	err := c.call(ctx, http.MethodPost, path, mw.FormDataContentType(), buf.Bytes(), nil, &out)
	return out, err
}

// Templates lists a user's face templates.
func (c *Client) Templates(ctx context.Context, id string) ([]api.Template, error) {
	var out api.TemplateList
	err := c.call(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(id)+"/templates", "", nil, nil, &out)
	return out.Templates, err
}

// DeleteTemplate deletes one of a user's templates (with the templates made from the same photo
// for other engines).
func (c *Client) DeleteTemplate(ctx context.Context, id, templateID string) error {
	return c.call(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(id)+"/templates/"+url.PathEscape(templateID), "", nil, nil, nil)
}

// StartEnrollment puts the door into an enrollment session (POST /v1/enrollment).
func (c *Client) StartEnrollment(ctx context.Context, req api.EnrollmentRequest) (api.Enrollment, error) {
	var out api.Enrollment
	err := c.jsonCall(ctx, http.MethodPost, "/v1/enrollment", req, &out)
	return out, err
}

// Enrollment reports the enrollment at the door (the last one when none is active).
func (c *Client) Enrollment(ctx context.Context) (api.Enrollment, error) {
	var out api.Enrollment
	err := c.call(ctx, http.MethodGet, "/v1/enrollment", "", nil, nil, &out)
	return out, err
}

// CancelEnrollment ends the enrollment at the door; nothing is stored.
func (c *Client) CancelEnrollment(ctx context.Context) (api.Enrollment, error) {
	var out api.Enrollment
	err := c.call(ctx, http.MethodDelete, "/v1/enrollment", "", nil, nil, &out)
	return out, err
}
