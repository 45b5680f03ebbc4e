// Command detlint reports code that breaks shoal's determinism contract
// (DESIGN.md, "The determinism contract") in the deterministic packages:
// those under core/, except core/live, and simnet. Other packages are
// accepted as they are, so it can run over the whole module.
//
// Lint packages on its own or as a vet tool:
//
//	go run ./cmd/detlint ./...
//	go build -o /tmp/detlint ./cmd/detlint && go vet -vettool=/tmp/detlint ./...
//
// Each finding is "file:line:col: message [rule]". A line is exempt from one
// rule if it ends in "//detlint:allow <rule> <reason>", and from the
// maprange rule if it ends in "//detlint:unordered <reason>"; see package
// determinism for the rules. The flags -scope and -exclude (comma-separated
// import path prefixes) change which packages are checked.
//
// List the exemptions, for review:
//
//	detlint -allows [-scope=...] [-exclude=...] dir...
//
// prints every valid directive in the checked non-test .go files under the
// directories as "file:line: rule: reason", sorted, where rule is
// "unordered" for //detlint:unordered.
package main

import (
	"fmt"
	"os"

	"github.com/shoaldb/shoal/cmd/detlint/determinism"
	"golang.org/x/tools/go/analysis/singlechecker"
)

func main() {
	// singlechecker owns the command line, so the listing mode is
	// recognised before it sees the arguments.
	if len(os.Args) > 1 && os.Args[1] == "-allows" {
		os.Exit(listAllows(os.Args[2:]))
	}
	singlechecker.Main(determinism.Analyzer)
}

// listAllows runs "detlint -allows args..." and returns its exit code.
func listAllows(args []string) int {
	flags := &determinism.Analyzer.Flags
	flags.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: detlint -allows [-scope=prefixes] [-exclude=prefixes] dir...")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() == 0 {
		flags.Usage()
		return 2
	}
	if err := determinism.ListDirectives(os.Stdout, flags.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "detlint:", err)
		return 1
	}
	return 0
}
