// Package library is shoal's built-in scenarios: YAML files in this
// directory, compiled into the binary, that `shoal sim run NAME` runs and
// the tests keep valid.
package library

import (
	"embed"
	"fmt"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/scenarios/scenario"
)

//go:embed *.yaml
var files embed.FS

// Names lists the built-in scenarios, sorted.
func Names() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err) // the embedded directory is always there
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// Source returns a built-in scenario's file.
func Source(name string) ([]byte, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("no built-in scenario %q (built in: %s)", name, strings.Join(Names(), ", "))
	}
	return files.ReadFile(name + ".yaml")
}

// Load parses a built-in scenario.
func Load(name string) (*scenario.Scenario, error) {
	src, err := Source(name)
	if err != nil {
		return nil, err
	}
	return scenario.Parse(name+".yaml", src)
}
