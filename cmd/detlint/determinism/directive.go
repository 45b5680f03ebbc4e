package determinism

import (
	"cmp"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// A directive is a //detlint:allow or //detlint:unordered comment: it lifts
// rule from the line it ends.
type directive struct {
	kind   string // "allow" or "unordered"
	rule   string // the rule lifted; unordered lifts maprange
	reason string
}

// parseDirective parses a comment. found reports whether it is a //detlint:
// directive at all; err says what is wrong with a malformed one.
func parseDirective(text string) (d directive, found bool, err error) {
	rest, found := strings.CutPrefix(text, "//detlint:")
	if !found {
		return directive{}, false, nil
	}
	kind, args := cutWord(rest)
	switch kind {
	case "allow":
		rule, reason := cutWord(args)
		switch {
		case rule == "":
			return d, true, errors.New("//detlint:allow needs a rule and a reason")
		case !slices.Contains(rules, rule):
			return d, true, fmt.Errorf("//detlint:allow names unknown rule %q (rules: %s)", rule, strings.Join(rules, ", "))
		case reason == "":
			return d, true, fmt.Errorf("//detlint:allow %s needs a reason", rule)
		}
		return directive{kind: kind, rule: rule, reason: reason}, true, nil
	case "unordered":
		if args == "" {
			return d, true, errors.New("//detlint:unordered needs a reason")
		}
		return directive{kind: kind, rule: "maprange", reason: args}, true, nil
	}
	return d, true, fmt.Errorf("unknown directive //detlint:%s (want //detlint:allow or //detlint:unordered)", kind)
}

// cutWord splits s, trimmed, into its first word and the trimmed rest.
func cutWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// ListDirectives writes every valid //detlint:allow and //detlint:unordered
// directive in the checked non-test Go files under dirs to w, one a line as
// "file:line: rule: reason" (rule is "unordered" for the latter), sorted by
// file and line. It reads the files as text: a file's import path, which
// decides whether it is checked, is its directory's path below the module
// of the nearest go.mod. Like "go list ./...", it skips testdata, _ and .
// directories and nested modules.
func ListDirectives(w io.Writer, dirs []string) error {
	type entry struct {
		file string
		line int
		d    directive
	}
	var entries []entry
	for _, root := range dirs {
		modPath, modDir, err := findModule(root)
		if err != nil {
			return err
		}
		err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if path != root && skipDir(path) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			pkgPath, err := importPath(modPath, modDir, filepath.Dir(path))
			if err != nil || !inScope(pkgPath) {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for line, d := range scanDirectives(path, src) {
				entries = append(entries, entry{path, line, d})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(strings.Compare(a.file, b.file), cmp.Compare(a.line, b.line))
	})
	for _, e := range entries {
		name := e.d.rule
		if e.d.kind == "unordered" {
			name = "unordered"
		}
		if _, err := fmt.Fprintf(w, "%s:%d: %s: %s\n", e.file, e.line, name, e.d.reason); err != nil {
			return err
		}
	}
	return nil
}

// scanDirectives yields the line and content of each valid directive in
// src. It scans tokens rather than lines so that a directive quoted in a
// string literal does not count.
func scanDirectives(path string, src []byte) iter.Seq2[int, directive] {
	return func(yield func(int, directive) bool) {
		file := token.NewFileSet().AddFile(path, -1, len(src))
		var s scanner.Scanner
		s.Init(file, src, nil, scanner.ScanComments)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				return
			}
			if tok != token.COMMENT {
				continue
			}
			if d, found, err := parseDirective(lit); found && err == nil && !yield(file.Line(pos), d) {
				return
			}
		}
	}
}

// skipDir reports whether the go command would leave the directory at path
// out of "./...".
func skipDir(path string) bool {
	name := filepath.Base(path)
	if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return true
	}
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil
}

// findModule returns the module path and directory of the nearest go.mod
// at or above dir.
func findModule(dir string) (modPath, modDir string, err error) {
	modDir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
		if err == nil {
			for line := range strings.Lines(string(data)) {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
					return strings.Trim(f[1], `"`), modDir, nil
				}
			}
			return "", "", fmt.Errorf("%s: no module line", filepath.Join(modDir, "go.mod"))
		}
		parent := filepath.Dir(modDir)
		if parent == modDir {
			return "", "", fmt.Errorf("%s: no go.mod in it or above it", dir)
		}
		modDir = parent
	}
}

// importPath returns the import path of the package in dir, a directory of
// the module modPath rooted at modDir.
func importPath(modPath, modDir, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(modDir, abs)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return modPath, nil
	}
	return modPath + "/" + filepath.ToSlash(rel), nil
}
