package scenario

import (
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

// Error is one problem in a scenario file, at a line of it. The format
// names no paths: Path is "".
type Error = yamlcheck.Error

// ErrorList is every problem Parse found, sorted by line; past 20 errors
// the list ends with a "too many errors" entry. errors.As finds the first
// *Error in it, and the list itself.
type ErrorList = yamlcheck.ErrorList

// plainValue matches values that read clearly in a message unquoted.
var plainValue = regexp.MustCompile(`^[-+.0-9a-zµμ]{1,40}$`)

// asWritten is a scalar as the file writes it, quoted only when it would
// not read clearly otherwise.
func asWritten(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && plainValue.MatchString(n.Value) {
		return n.Value
	}
	return yamlcheck.Describe(n)
}
