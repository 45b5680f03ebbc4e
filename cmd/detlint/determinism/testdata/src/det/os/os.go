// Package os exercises the os rule.
package os

import (
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
)

func machine() {
	_, _ = os.Open("x")            // want `^os.Open touches the real machine; the disk is env.FS\(\) \[os\]$`
	_ = os.Getenv("HOME")          // want `os.Getenv`
	os.Exit(1)                     // want `os.Exit`
	fmt.Fprintln(os.Stderr)        // want `os.Stderr`
	_ = os.Args                    // want `os.Args`
	_, _ = ioutil.ReadFile("x")    // want `^ioutil.ReadFile touches the real disk; the disk is env.FS\(\) \[os\]$`
	_, _ = filepath.Abs("x")       // want `filepath.Abs`
	_ = filepath.WalkDir(".", nil) // want `filepath.WalkDir`
	_, _ = os.ReadFile("golden")   //detlint:allow os reads a golden file in a debug build
}

// memFile stands for a file of an in-memory vfs.FS, which must use os's
// types, constants and errors.
type memFile struct {
	mode os.FileMode
	info os.FileInfo
}

func (f *memFile) open(name string, flag int) error {
	if flag&os.O_CREATE == 0 && !os.IsExist(nil) {
		return &os.PathError{Op: "open", Path: filepath.Join("mem", name), Err: os.ErrNotExist}
	}
	_ = ioutil.NopCloser(nil)
	return os.ErrPermission
}
