package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/doorface/doorface/vision"
)

// versionMain implements `doorface version`: what this binary is and what it runs on.
func versionMain(args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("version", "version [--models DIR]", "models")
	c, code, ok := loadCommand(fs, cf, args, stdout, stderr)
	if !ok {
		return code
	}
	mod, commit, modified := "(devel)", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		mod = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	fmt.Fprintf(stdout, "doorface %s\ncommit   %s%s\ngo       %s %s/%s\nopencv   %s\nengine   %s\nmodels   %s\n",
		mod, commit, modified, runtime.Version(), runtime.GOOS, runtime.GOARCH, vision.OpenCVVersion(), c.Vision.Engine, c.Models)
	for _, name := range vision.ModelFiles(c.Vision.Engine) {
		sum := "missing"
		if b, err := os.ReadFile(filepath.Join(c.Models, name)); err == nil {
			h := sha256.Sum256(b)
			sum = hex.EncodeToString(h[:])
		}
		fmt.Fprintf(stdout, "  %s  %s\n", sum, name)
	}
	return 0
}
