package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
)

func runCheck(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	history := fs.String("history", "", "a history file (JSON Lines, checker/README.md) to check with the key-value model")
	timeout := fs.Duration("timeout", checker.DefaultLinearizableTimeout, "how long the linearizability search may run before the verdict is unknown")
	viz := fs.String("viz", "", "where to write porcupine's visualization if the history is not linearizable (default: next to the history, as NAME.linearizability.html)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal check DIR | shoal check --history FILE [--timeout D] [--viz FILE]")
		fs.PrintDefaults()
	}
	pos, done, code, err := parseInterleaved(fs, args)
	if done {
		return code, err
	}
	switch {
	case len(pos) == 1 && *history == "":
		return checkRunDir(pos[0], stdout, stderr)
	case len(pos) > 1 || len(pos) == 1 && *history != "":
		return exitUsage, usagef("want one run directory, or --history FILE")
	case *history == "":
		fs.Usage()
		return exitUsage, usagef("want a run directory, or --history FILE")
	}
	f, err := os.Open(*history)
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	h, err := checker.ParseHistory(f)
	f.Close()
	if err != nil {
		return exitUsage, usageError{fmt.Sprintf("%s: %v", *history, err)}
	}
	start := time.Now()
	lin := checker.Linearizable(h, *timeout)
	took := time.Since(start)
	results := []checker.Result{lin.Result, checker.Durability(h)}
	ops := 0
	for _, e := range h.Events {
		if e.Type == checker.Invoke {
			ops++
		}
	}
	fmt.Fprintf(stdout, "%s: %d operations (%d lines skipped), checked in %s\n", *history, ops, h.Skipped, took.Round(time.Millisecond))
	for _, r := range results {
		fmt.Fprintf(stdout, "  %-13s %-8s %s\n", r.Checker, r.Verdict, r.Explanation)
	}
	if lin.Result.Verdict == checker.Invalid {
		path := *viz
		if path == "" {
			path = strings.TrimSuffix(*history, ".jsonl") + ".linearizability.html"
		}
		if out, err := os.Create(path); err != nil {
			fmt.Fprintf(stderr, "shoal check: cannot write the visualization: %v\n", err)
		} else {
			if err := lin.Visualize(out, nil); err != nil {
				fmt.Fprintf(stderr, "shoal check: visualization: %v\n", err)
			}
			out.Close()
			fmt.Fprintf(stdout, "visualization: %s\n", path)
		}
	}
	v := checker.Combine(results)
	fmt.Fprintf(stdout, "verdict: %s\n", v)
	return v.ExitCode(), nil
}
