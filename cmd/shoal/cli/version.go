package cli

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version is shoal's release version.
const version = "0.1.0-dev"

// commit is the VCS revision the binary was built from, "-dirty" when the
// tree had uncommitted changes, or "unknown" (go run does not stamp it).
func commit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "unknown", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

func runVersion(args []string, stdout, _ io.Writer) (int, error) {
	if len(args) > 0 {
		return exitUsage, usagef("takes no arguments")
	}
	fmt.Fprintf(stdout, "shoal %s (%s)\n", version, commit())
	return exitValid, nil
}
