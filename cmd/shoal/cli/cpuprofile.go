package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
)

// cutCPUProfileFlag takes the hidden --cpuprofile FILE (or
// --cpuprofile=FILE, one dash or two) out of args: a flag for measuring
// shoal, kept out of the help.
func cutCPUProfileFlag(args []string) (file string, rest []string, err error) {
	rest = slices.Clone(args)
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "cpuprofile" {
			continue
		}
		if !hasValue {
			if i+1 == len(rest) {
				return "", nil, usagef("--cpuprofile: want a file")
			}
			value = rest[i+1]
			rest = slices.Delete(rest, i+1, i+2)
		}
		file = value
		rest = slices.Delete(rest, i, i+1)
		i--
	}
	return file, rest, nil
}

// startCPUProfile profiles the process into file until the returned stop
// is called.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, usagef("--cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
