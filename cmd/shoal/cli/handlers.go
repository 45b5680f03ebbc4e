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
	if _, done, code, err := parseArgs(fs, args, 0, "no argument"); done {
		return code, err
	}
	for _, name := range handler.Registered() {
		fmt.Fprintln(stdout, name)
	}
	return exitValid, nil
}
