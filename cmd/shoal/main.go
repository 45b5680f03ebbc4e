// Command shoal is the command line of the shoal data platform and its
// simulation harness; its commands and exit codes are in package cli.
package main

import (
	"os"

	"github.com/shoaldb/shoal/cmd/shoal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
