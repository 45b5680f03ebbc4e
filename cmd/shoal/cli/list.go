package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/shoaldb/shoal/scenarios/library"
)

// runSimList prints the built-in scenarios, one a line: the name, then
// the description with its whitespace collapsed (cut to the terminal's
// width when stdout is one).
func runSimList(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal sim list\n\nLists the built-in scenarios, which sim run and sim sweep take by name.")
	}
	pos, done, code, err := parseInterleaved(fs, args)
	if done {
		return code, err
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage, usagef("takes no arguments")
	}
	width, _ := terminal(stdout)
	names := library.Names()
	pad := 0
	for _, n := range names {
		pad = max(pad, len(n))
	}
	var broken []string
	for _, name := range names {
		var desc string
		if s, err := library.Load(name); err != nil {
			// A built-in scenario that does not parse is our bug (exit 4);
			// list the others all the same.
			desc = "(does not load: " + err.Error() + ")"
			broken = append(broken, name)
		} else {
			desc = strings.Join(strings.Fields(s.Description), " ")
		}
		line := strings.TrimRight(fmt.Sprintf("%-*s  %s", pad, name, desc), " ")
		fmt.Fprintln(stdout, truncate(line, width))
	}
	if len(broken) > 0 {
		return exitInternal, fmt.Errorf("built-in scenarios that do not load: %s", strings.Join(broken, ", "))
	}
	return exitValid, nil
}
