// Package yamlcheck holds the pieces the strict YAML readers share (the
// scenario format, the data model): where a problem is and how to say it.
//
// A reader walks a go.yaml.in/yaml/v3 node tree and reports each problem
// to a Report, at the node's line; Document gives it the tree, and the
// readers here (Pairs, Str, Bool, Int, List) the checks every format
// makes, in the words every format uses. What a problem's subject is
// called (a field in backquotes, a path) is the format's business.
package yamlcheck

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits every strict format keeps.
const (
	MaxFileSize = 1 << 20 // bytes; the message says 1 MiB
	MaxErrors   = 20      // reported; a Report stops collecting a little past it
)

// Error is one problem in a file: where it is (the line, and the path of
// the value when the format names one, such as types.Order.versions[1])
// and what is wrong.
type Error struct {
	File string
	Line int    // 1-based
	Path string // "" for problems of the file as a whole, and in formats without paths
	Msg  string
}

// Error reads "FILE:LINE: msg", or "FILE:LINE: PATH: msg" with a path.
func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
}

// ErrorList is every problem a reader found, sorted by line; past
// MaxErrors errors the list ends with a "too many errors" entry.
// errors.As finds the first *Error in it, and the list itself.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the list's errors, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Report collects the problems found in one file.
type Report struct {
	File string
	errs []*Error
}

// Addf reports a problem at n's line (line 1 when n is nil or has none)
// and path. Past four times MaxErrors it drops the problem: Err reports
// no more than MaxErrors, and a file that is all mistakes costs no more.
func (r *Report) Addf(n *yaml.Node, path, format string, args ...any) {
	if len(r.errs) > 4*MaxErrors {
		return
	}
	line := 1
	if n != nil && n.Line > 0 {
		line = n.Line
	}
	r.errs = append(r.errs, &Error{File: r.File, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Check adds why (a reader's complaint, such as Str's) as a problem at
// n and path unless it is "", and reports whether it was "".
func (r *Report) Check(n *yaml.Node, path, why string) bool {
	if why != "" {
		r.Addf(n, path, "%s", why)
	}
	return why == ""
}

// Len is how many problems the report has collected.
func (r *Report) Len() int { return len(r.errs) }

// Err returns the problems reported, an ErrorList sorted by line (in the
// order reported within a line) and capped at MaxErrors, or nil.
func (r *Report) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.SliceStable(r.errs, func(i, j int) bool { return r.errs[i].Line < r.errs[j].Line })
	list := ErrorList(r.errs)
	if len(list) > MaxErrors {
		more := list[MaxErrors]
		list = append(list[:MaxErrors:MaxErrors], &Error{File: r.File, Line: more.Line, Msg: "too many errors"})
	}
	return list
}
