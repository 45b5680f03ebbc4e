package model

import (
	"go.yaml.in/yaml/v3"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

// Error is one problem in a model file: where it is (the line, and the
// path of the value in the model, such as types.Order.versions[1]) and
// what is wrong. It reads "FILE:LINE: PATH: problem", without the path
// for problems of the file as a whole.
type Error = yamlcheck.Error

// ErrorList is every problem Parse found, sorted by line; past 20 errors
// the list ends with a "too many errors" entry. errors.As finds the first
// *Error in it, and the list itself.
type ErrorList = yamlcheck.ErrorList

// ObjectError is why an object does not fit its type: Path is the JSON
// path of the offending value ($ for the object itself, $.address.zip,
// $.items[2]).
type ObjectError struct {
	Path string
	Msg  string
}

func (e *ObjectError) Error() string { return e.Path + ": " + e.Msg }

// quote, describe and hint say things the way every strict YAML reader
// of shoal says them (yamlcheck), for the model's messages.

func quote(s string) string { return yamlcheck.Quote(s) }

func describe(n *yaml.Node) string { return yamlcheck.Describe(n) }

func hint(s string, candidates []string) string { return yamlcheck.Hint(s, candidates) }
