package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/vision"
)

// enrollPhotos is the end of `doorface enroll`: every photo is described and checked before
// anything is written (a refused photo, or one nearer another user without force, leaves no
// user and no template behind); then the user is created (or found) and the templates stored
// with their face crops.
func enrollPhotos(db *store.DB, pipe *vision.Pipeline, vc vision.Config, g *vision.Gallery, name, pin, userID string,
	force bool, paths []string, photos []transport.Photo, stdout, stderr io.Writer) int {
	enrolled, err := describePhotos(context.Background(), pipe, vc, photos)
	if err != nil {
		return fail(stderr, "enroll", namePhoto(err, paths))
	}
	descs := make([]vision.Descriptor, len(enrolled))
	for i, en := range enrolled {
		descs[i] = en.Descriptor
	}
	var u store.User
	if userID != "" {
		if u, err = db.GetUser(userID); err != nil {
			return fail(stderr, "enroll", err)
		}
	}
	// A new user has no templates yet: only the request's other photos are their own.
	warnings, err := checkNearest(g, cmp.Or(u.ID, "(new user)"), descs, force)
	if err != nil {
		fmt.Fprintf(stderr, "doorface enroll: %v\n(add --force to store it anyway)\n", namePhoto(err, paths))
		return 1
	}
	if userID == "" {
		if u, err = db.CreateUser(name, pin); err != nil {
			return fail(stderr, "enroll", err)
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if _, err := addTemplates(db, g, u, vc.Engine, enrolled); err != nil {
		return fail(stderr, "enroll", err)
	}
	fmt.Fprintf(stdout, "enrolled %s (id %s) with %d new template(s), PIN %s\n", u.Name, u.ID, len(enrolled), map[bool]string{true: "set", false: "none"}[u.HasPIN])
	return 0
}

// namePhoto replaces "photo N" of a *transport.PhotoError with the file's path.
func namePhoto(err error, paths []string) error {
	var pe *transport.PhotoError
	if errors.As(err, &pe) && pe.Index >= 1 && pe.Index <= len(paths) {
		return fmt.Errorf("%s: %w", paths[pe.Index-1], pe.Err)
	}
	return err
}

// templatesMain implements `doorface users templates ID` and `users templates delete ID TID`.
func templatesMain(args []string, stdout, stderr io.Writer) int {
	const usage = "users templates ID | users templates delete ID TID   (daemon stopped; else GET/DELETE /v1/users/{id}/templates)"
	del := len(args) > 0 && args[0] == "delete"
	if del {
		args = args[1:]
	}
	fs, cf := commandFlags("users templates", usage, "data")
	c, code, ok := loadCommand(fs, cf, args, stdout, stderr)
	if !ok {
		return code
	}
	if (!del && fs.NArg() != 1) || (del && fs.NArg() != 2) {
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	db, err := openDB(c, !del, false)
	if err != nil {
		return fail(stderr, "users templates", err)
	}
	defer db.Close()
	if del {
		deleted, err := db.DeleteTemplate(fs.Arg(0), fs.Arg(1))
		if err != nil {
			return fail(stderr, "users templates delete", err)
		}
		fmt.Fprintf(stdout, "deleted template %s of user %s (%d template(s) with the same photo)\n", fs.Arg(1), fs.Arg(0), len(deleted))
		return 0
	}
	ts, err := db.UserTemplates(fs.Arg(0))
	if err != nil {
		return fail(stderr, "users templates", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENGINE\tCREATED\tCROP")
	for _, t := range ts {
		crop := "-"
		if t.Crop != "" {
			crop = t.Crop
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Engine, t.Created.UTC().Format(time.RFC3339), crop)
	}
	tw.Flush()
	return 0
}

// galleryMain implements `doorface gallery rebuild [--engine E]`: every template of the engine
// is recomputed from the kept face crops, offline, so a site can switch engines without
// enrolling everyone again. Exit code 1 when some crop could not be described (its old template
// of the engine, if any, is kept) or on an error.
func galleryMain(args []string, stdout, stderr io.Writer) int {
	const usage = "gallery rebuild [--engine mobilefacenet|dlib] [--data DIR --models DIR]   (daemon stopped)"
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	fs, cf := commandFlags("gallery rebuild", usage, "data", "models")
	engine := fs.String("engine", "", "the engine to rebuild templates for (default: the configured one)")
	c, code, ok := loadCommand(fs, cf, args[1:], stdout, stderr)
	if !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	if *engine != "" {
		if thr, _ := vision.DefaultThresholds(*engine); thr == 0 {
			fmt.Fprintf(stderr, "doorface gallery rebuild: --engine %q: want %s or %s\n", *engine, vision.EngineMobileFaceNet, vision.EngineDlib)
			return 2
		}
		c.Vision.Engine = *engine
	}
	db, err := openDB(c, false, false)
	if err != nil {
		return fail(stderr, "gallery rebuild", err)
	}
	defer db.Close()
	pipe, vc, err := onePipeline(c)
	if err != nil {
		return fail(stderr, "gallery rebuild", err)
	}
	defer pipe.Close()
	rep, err := db.RebuildTemplates(vc.Engine, func(fc store.FaceCrop) ([]float32, error) {
		return pipe.DescribeCrop(context.Background(), fc.JPEG)
	})
	if err != nil {
		return fail(stderr, "gallery rebuild", err)
	}
	fmt.Fprintf(stdout, "rebuilt %d %s template(s) from face crops (%d replaced)\n", rep.Rebuilt, vc.Engine, rep.Replaced)
	for _, f := range rep.Failed {
		fmt.Fprintf(stdout, "failed: user %s, crop %s: %v (its old %s template, if any, is kept)\n", f.UserID, f.Crop, f.Err, vc.Engine)
	}
	if len(rep.NoCrop) > 0 {
		fmt.Fprintf(stdout, "%d user(s) have no face crop and must enroll again for %s unless they have its templates: %v\n", len(rep.NoCrop), vc.Engine, rep.NoCrop)
	}
	if len(rep.Failed) > 0 {
		return 1
	}
	return 0
}
