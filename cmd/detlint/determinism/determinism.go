// Package determinism holds the analyzer that enforces shoal's determinism
// contract (DESIGN.md, "The determinism contract"): code in core/ (outside
// core/live), simnet and nemesis (which acts inside a simulated run) must
// be a pure function of its inputs, so it may not
// start goroutines, use channels or select, take locks, read the real clock,
// draw from global or OS randomness, touch the real disk or network, or let
// map iteration order reach an output.
//
// Each finding names its rule in brackets at the end of the message:
//
//	core/raftlog/log.go:12:2: go statement: deterministic code runs only on its node's event loop [goroutine]
//
// The rules are goroutine, channel, select, sync, time, rand, cryptorand,
// maphash, os, net and maprange. A line opts out of one rule with a trailing
// comment on that same line,
//
//	"sync" //detlint:allow sync pebble calls the FS from its own goroutines
//
// and a map range, or a maps.Keys, maps.Values or maps.All call, is accepted
// on a line marked
//
//	for id := range peers { //detlint:unordered only counts them
//
// Both markers need a reason; a marker without one, or an allow naming an
// unknown rule, is itself reported under the rule "directive".
package determinism

import (
	"flag"
	"fmt"
	"go/ast"
	"go/token"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
)

// Analyzer reports code in deterministic packages that breaks the
// determinism contract. Its flags -scope and -exclude choose the packages.
var Analyzer = &analysis.Analyzer{
	Name:     "detlint",
	Doc:      "report code that would make shoal's deterministic core depend on anything but its inputs",
	URL:      "https://github.com/shoaldb/shoal/tree/main/cmd/detlint",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

// scope and exclude are comma-separated import path prefixes: a package is
// checked if its path is under some scope prefix and under no exclude
// prefix. core/live is the production Env, which must use real goroutines,
// clocks and sockets.
var (
	scope   = prefixList{"github.com/shoaldb/shoal/core", "github.com/shoaldb/shoal/simnet", "github.com/shoaldb/shoal/nemesis"}
	exclude = prefixList{"github.com/shoaldb/shoal/core/live"}
)

func init() {
	Analyzer.Flags.Var(&scope, "scope", "comma-separated import path prefixes of the packages to check")
	Analyzer.Flags.Var(&exclude, "exclude", "comma-separated import path prefixes of packages not to check, even under -scope")
}

// inScope reports whether the package with import path path is checked.
func inScope(path string) bool {
	return scope.contains(path) && !exclude.contains(path)
}

// prefixList is a flag.Value holding import path prefixes. A prefix covers
// the package with exactly that path and the packages below it.
type prefixList []string

var _ flag.Value = (*prefixList)(nil)

func (l *prefixList) String() string { return strings.Join(*l, ",") }

func (l *prefixList) Set(s string) error {
	*l = nil
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.Trim(strings.TrimSpace(p), "/"); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func (l prefixList) contains(path string) bool {
	for _, p := range l {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func run(pass *analysis.Pass) (any, error) {
	// The ".test" package is the test main that "go test" generates.
	if path := pass.Pkg.Path(); !inScope(path) || strings.HasSuffix(path, ".test") {
		return nil, nil
	}
	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	for file := range in.Root().Children() {
		tf := pass.Fset.File(file.Node().Pos())
		if strings.HasSuffix(tf.Name(), "_test.go") {
			continue
		}
		c := &fileChecker{pass: pass, file: tf}
		c.readDirectives(file.Node().(*ast.File))
		c.check(file)
		c.reportUnused()
	}
	return nil, nil
}

// fileChecker checks one file, honouring the directives in it.
type fileChecker struct {
	pass *analysis.Pass
	file *token.File
	// exempt holds, per line, the rule that line's directive lifts, and
	// where the directive is.
	exempt map[int]exemption
}

type exemption struct {
	rule    string
	comment *ast.Comment
	used    bool
}

// readDirectives records the file's valid directives and reports the
// malformed ones, which exempt nothing.
func (c *fileChecker) readDirectives(f *ast.File) {
	c.exempt = make(map[int]exemption)
	for _, group := range f.Comments {
		for _, comment := range group.List {
			d, found, err := parseDirective(comment.Text)
			switch {
			case !found:
			case err != nil:
				c.pass.Report(diagnostic(comment, "directive", err.Error()))
			default:
				c.exempt[c.file.Line(comment.Pos())] = exemption{rule: d.rule, comment: comment}
			}
		}
	}
}

// report reports a breach of rule at rng unless the line it starts on is
// exempt from rule.
func (c *fileChecker) report(rng analysis.Range, rule, format string, args ...any) {
	line := c.file.Line(rng.Pos())
	if e, ok := c.exempt[line]; ok && e.rule == rule {
		e.used = true
		c.exempt[line] = e
		return
	}
	c.pass.Report(diagnostic(rng, rule, fmt.Sprintf(format, args...)))
}

// reportUnused reports directives that lifted nothing: stale ones would
// otherwise linger in the list of opt-outs that make lint prints, each
// claiming a reason for a breach that no longer exists.
func (c *fileChecker) reportUnused() {
	lines := make([]int, 0, len(c.exempt))
	for line := range c.exempt {
		lines = append(lines, line)
	}
	slices.Sort(lines)
	for _, line := range lines {
		if e := c.exempt[line]; !e.used {
			c.pass.Report(diagnostic(e.comment, "directive", fmt.Sprintf("this directive lifts %s, but nothing on its line breaks that rule; remove it", e.rule)))
		}
	}
}

func diagnostic(rng analysis.Range, rule, msg string) analysis.Diagnostic {
	return analysis.Diagnostic{
		Pos:      rng.Pos(),
		End:      rng.End(),
		Category: rule,
		Message:  msg + " [" + rule + "]",
	}
}
