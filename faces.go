package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/vision"
)

// closerError refuses a template nearer another user than the user's own; it is
// transport.ErrCloserToOtherUser for errors.Is, with a message naming the other user.
type closerError struct{ msg string }

func (e closerError) Error() string        { return e.msg }
func (e closerError) Is(target error) bool { return target == transport.ErrCloserToOtherUser }

// describePhotos decodes and enrolls every photo (EnrollFace: full-resolution detection, one
// face, the quality gate), or refuses naming the first bad one; nothing is stored.
func describePhotos(ctx context.Context, pipe *vision.Pipeline, cfg vision.Config, photos []transport.Photo) ([]vision.Enrolled, error) {
	out := make([]vision.Enrolled, 0, len(photos))
	for i, p := range photos {
		fr, err := vision.Decode(p.Body, p.ContentType, cfg)
		if err != nil {
			return nil, &transport.PhotoError{Index: i + 1, Err: inputRefusal(err)}
		}
		en, err := pipe.EnrollFace(ctx, fr)
		fr.Close()
		if err != nil {
			return nil, &transport.PhotoError{Index: i + 1, Err: inputRefusal(err)}
		}
		out = append(out, en)
	}
	return out, nil
}

// checkNearest compares each new template of userID with the gallery, the other photos of
// the same request counting as the user's own templates. A template nearer another user than
// the user's own is refused (a *transport.PhotoError wrapping closerError) unless force, when it
// is only a warning.
func checkNearest(g *vision.Gallery, userID string, descs []vision.Descriptor, force bool) (warnings []string, err error) {
	for i, d := range descs {
		n, err := g.Nearest(userID, d)
		if err != nil {
			return nil, &transport.PhotoError{Index: i + 1, Err: err}
		}
		for j, o := range descs {
			if dist := vision.Distance(g.Engine(), d, o); j != i && (!n.HasOwn || dist < n.OwnDistance) {
				n.HasOwn, n.OwnDistance = true, dist
			}
		}
		if !n.CloserToOther() {
			continue
		}
		msg := fmt.Sprintf("closer to %s (user %s, distance %.2f) than to the user's own templates (%.2f)",
			cmp.Or(n.OtherName, n.Other), n.Other, n.OtherDistance, n.OwnDistance)
		if !force {
			return nil, &transport.PhotoError{Index: i + 1, Err: closerError{msg}}
		}
		warnings = append(warnings, fmt.Sprintf("photo %d: %s; stored anyway (force)", i+1, msg))
	}
	return warnings, nil
}

// AddFaces enrolls every photo for the user, or none (see transport.Users).
func (u users) AddFaces(ctx context.Context, userID string, photos []transport.Photo, force bool) (api.FaceResponse, error) {
	usr, err := u.db.GetUser(userID)
	if err != nil {
		return api.FaceResponse{}, err
	}
	enrolled, err := describePhotos(ctx, u.pipe, u.cfg, photos)
	if err != nil {
		return api.FaceResponse{}, err
	}
	descs := make([]vision.Descriptor, len(enrolled))
	for i, en := range enrolled {
		descs[i] = en.Descriptor
	}
	warnings, err := checkNearest(u.gallery, userID, descs, force)
	if err != nil {
		return api.FaceResponse{}, err
	}
	ids, err := addTemplates(u.db, u.gallery, usr, u.cfg.Engine, enrolled)
	if err != nil {
		return api.FaceResponse{}, err
	}
	return api.FaceResponse{Template: ids[0], Templates: ids, Warnings: warnings}, nil
}

// addTemplates stores each enrolled face (with its crop) and adds it to the gallery.
func addTemplates(db *store.DB, g *vision.Gallery, usr store.User, engine string, enrolled []vision.Enrolled) ([]string, error) {
	ids := make([]string, 0, len(enrolled))
	for _, en := range enrolled {
		t, err := db.AddTemplateWithCrop(usr.ID, engine, en.Descriptor, en.Crop)
		if err != nil {
			return ids, err
		}
		if err := g.Add(vision.Entry{UserID: usr.ID, Name: usr.Name, TemplateID: t.ID, Descriptor: en.Descriptor}); err != nil {
			return ids, err
		}
		ids = append(ids, t.ID)
	}
	return ids, nil
}

// Templates lists the user's templates as the API shows them.
func (u users) Templates(userID string) ([]api.Template, error) {
	ts, err := u.db.UserTemplates(userID)
	if err != nil {
		return nil, err
	}
	out := make([]api.Template, 0, len(ts))
	for _, t := range ts {
		out = append(out, api.Template{ID: t.ID, Engine: t.Engine, Created: t.Created.UTC(), Crop: t.Crop != "", Source: t.Crop})
	}
	return out, nil
}

// DeleteTemplate deletes a template (with the templates made from the same crop) from the store,
// then from the gallery.
func (u users) DeleteTemplate(userID, id string) error {
	deleted, err := u.db.DeleteTemplate(userID, id)
	if err != nil {
		return err
	}
	u.gallery.RemoveTemplates(deleted...)
	return nil
}
