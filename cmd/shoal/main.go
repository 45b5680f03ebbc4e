// Command shoal is the command line of the shoal data platform and its
// simulation harness.
//
// Exit codes of every command that judges something: 0 valid, 1 invalid,
// 2 unknown, 3 bad input or usage, 4 internal error (a panic is recovered
// and reported as 4).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	exitValid    = 0
	exitInvalid  = 1
	exitUnknown  = 2
	exitUsage    = 3
	exitInternal = 4
)

// usageError is bad input or usage: exit 3.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) (int, error)
}

func commands() []command {
	return []command{
		{"sim run", "run a scenario (a file or a built-in name) on a seed; write a run directory and report", runSimRun},
		{"sim replay", "re-run a run directory and confirm its trace is identical", runSimReplay},
		{"check", "re-check a run directory (DIR), or a history file (--history FILE)", runCheck},
		{"version", "print the version and commit", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns its exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "shoal: internal error: %v\n%s", v, debug.Stack())
			code = exitInternal
		}
	}()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return exitValid
	}
	for _, c := range commands() {
		words := len(strings.Fields(c.name))
		if len(args) >= words && strings.Join(args[:words], " ") == c.name {
			code, err := c.run(args[words:], stdout, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "shoal %s: %v\n", c.name, err)
				var ue usageError
				if errors.As(err, &ue) {
					return exitUsage
				}
				if code == exitValid {
					return exitInternal
				}
			}
			return code
		}
	}
	fmt.Fprintf(stderr, "shoal: unknown command %q\n\n", strings.Join(args, " "))
	printUsage(stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: shoal COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'shoal COMMAND -h' for a command's flags.")
}
