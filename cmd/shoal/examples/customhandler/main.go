// Command customhandler is shoal with one handler of its own, uppercase:
// what a user writes to run their own business logic in shoal's
// pipelines. It registers the handler in init and hands the command line
// to cli.Main, so it has every command shoal has, and `handlers` lists
// uppercase beside the built-in ones. README.md says how to build yours.
package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/cmd/shoal/cli"
	"github.com/shoaldb/shoal/core/handler"
)

func init() {
	// Checked, so that a pipeline file whose uppercase step names no
	// field is refused at that step's line when it is loaded, not
	// message by message in the repair queue.
	handler.RegisterChecked("uppercase", checkUppercase, func(c *handler.Context, m *handler.Message) ([]*handler.Message, error) {
		return uppercase(c.Params(), m)
	})
}

// checkUppercase accepts a step's params when they name the field to
// uppercase: `uppercase: {field: name}`.
func checkUppercase(params any) error {
	_, err := uppercaseField(params)
	return err
}

func uppercaseField(params any) (string, error) {
	p, ok := params.(map[string]any)
	if !ok {
		return "", fmt.Errorf("want {field: NAME}, got %s", describe(params))
	}
	field, ok := p["field"].(string)
	if !ok || field == "" {
		return "", fmt.Errorf("field: want the name of a field, got %s", describe(p["field"]))
	}
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if k != "field" {
			return "", fmt.Errorf("unknown parameter %q: uppercase takes only field", k)
		}
	}
	return field, nil
}

// uppercase puts the named string field of m in upper case and passes m
// on. A message without the field passes unchanged; one whose field is
// not a string is an error, which sends it to the repair queue.
func uppercase(params any, m *handler.Message) ([]*handler.Message, error) {
	field, err := uppercaseField(params)
	if err != nil {
		return nil, err
	}
	v, ok := m.Fields[field]
	if !ok {
		return []*handler.Message{m}, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("field %q is %s, not a string", field, describe(v))
	}
	m.Fields[field] = strings.ToUpper(s)
	return []*handler.Message{m}, nil
}

// describe names a params or fields value for an error.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
