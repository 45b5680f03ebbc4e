//go:build !shoalbugs

package bugs

import "errors"

// Has reports whether b is switched on: never, in a normal build.
func (Set) Has(Bug) bool { return false }

// Parse fails: a normal build has no planted bugs.
func Parse(name string) (Set, error) {
	return 0, errors.New("this build has no planted bugs; build with -tags shoalbugs")
}

// Names lists the planted bugs of this build: none.
func Names() []string { return nil }
