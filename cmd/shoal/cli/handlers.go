package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/shoaldb/shoal/core/handler"
)

// runHandlers prints the handlers this binary can run in a pipeline, one
// a line: the built-in ones and those the packages it was built with
// registered (handler.Register). Every instance of a cluster must run a
// binary that has the handlers its pipelines name, so this is what to
// compare between binaries.
func runHandlers(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal handlers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal handlers\n\nLists the handlers this binary can run in a pipeline: built-in and registered.")
	}
	pos, done, code, err := parseInterleaved(fs, args)
	if done {
		return code, err
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage, usagef("takes no arguments")
	}
	for _, name := range handler.Registered() {
		fmt.Fprintln(stdout, name)
	}
	return exitValid, nil
}
