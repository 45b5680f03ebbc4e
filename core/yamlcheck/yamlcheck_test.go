package yamlcheck

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestHint(t *testing.T) {
	faults := []string{"partition", "link", "kill", "restart", "pause", "clock", "disk"}
	for _, tc := range []struct {
		s          string
		candidates []string
		want       string
	}{
		{"partiton", faults, " (did you mean partition?)"},
		{"kil", faults, " (did you mean kill?)"},
		{"KILL", faults, " (did you mean kill?)"},                     // case is ignored
		{"ordr", []string{"Item", "Order"}, " (did you mean Order?)"}, // in candidates too
		{"lnik", faults, " (did you mean link?)"},                     // a transposition costs one
		{"x", faults, " (one of partition, link, kill, restart, pause, clock, disk)"},
		{"ab", []string{"a"}, " (one of a)"}, // a match as far off as the candidate is long is none
		{"zzz", nil, ""},
		{"", faults, " (one of partition, link, kill, restart, pause, clock, disk)"},
		{strings.Repeat("k", 65), faults, " (one of partition, link, kill, restart, pause, clock, disk)"},
		{"n12", []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10", "n11"}, " (did you mean n1?)"}, // the first of the nearest
		{"q", []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10", "n11"}, ""},                      // too many to list
	} {
		if got := Hint(tc.s, tc.candidates); got != tc.want {
			t.Errorf("Hint(%q, %q) = %q, want %q", tc.s, tc.candidates, got, tc.want)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	for _, tc := range []struct {
		data string
		line int
		msg  string
	}{
		{"a: 1\nb: [\n", 2, "invalid YAML: did not find expected node content"},
		{"a: 1\n\tb: 2\n", 2, "invalid YAML: found a tab character that violates indentation"},
		{"a: b: c\n", 1, "invalid YAML: mapping values are not allowed in this context"},
		{"\x01", 1, "invalid YAML: control characters are not allowed"},
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tc.data), &n)
		if err == nil {
			t.Fatalf("%q parsed", tc.data)
		}
		if line, msg := syntaxError(err); line != tc.line || msg != tc.msg {
			t.Errorf("%q: got line %d %q, want line %d %q (from %v)", tc.data, line, msg, tc.line, tc.msg, err)
		}
	}
	if line, _ := syntaxError(errors.New("yaml: line 0: odd")); line != 1 {
		t.Errorf("line 0 became line %d, want 1", line)
	}
}

func TestErrorCap(t *testing.T) {
	r := Report{File: "f.yaml"}
	for i := range 100 {
		r.Addf(&yaml.Node{Line: 100 - i}, "", "problem %d", i)
	}
	if r.Len() != 4*MaxErrors+1 {
		t.Errorf("collected %d problems, want %d", r.Len(), 4*MaxErrors+1)
	}
	var list ErrorList
	if err := r.Err(); !errors.As(err, &list) {
		t.Fatalf("Err() = %T %v", err, err)
	}
	if len(list) != MaxErrors+1 {
		t.Fatalf("%d errors, want %d", len(list), MaxErrors+1)
	}
	for i, e := range list[:MaxErrors] {
		if want := fmt.Sprintf("f.yaml:%d: problem %d", 20+i, 80-i); e.Error() != want {
			t.Errorf("error %d: %q, want %q", i, e, want)
		}
	}
	if got, want := list[MaxErrors].Error(), "f.yaml:40: too many errors"; got != want {
		t.Errorf("last: %q, want %q", got, want)
	}
	var first *Error
	if !errors.As(r.Err(), &first) || first.Line != 20 {
		t.Errorf("errors.As found %v", first)
	}
	if (&Report{}).Err() != nil {
		t.Errorf("an empty report is an error")
	}
}

func TestErrorPath(t *testing.T) {
	r := Report{File: "m.yaml"}
	r.Addf(nil, "types.Order", "must be a mapping, got %s", "a list")
	r.Addf(&yaml.Node{}, "", "the file is empty")
	want := "m.yaml:1: types.Order: must be a mapping, got a list\nm.yaml:1: the file is empty"
	if got := r.Err().Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPairs(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("{x: 1, a: 2, [b]: 3, a: 4, y: 5}"), &doc); err != nil {
		t.Fatal(err)
	}
	r := Report{File: "f.yaml"}
	var got []string
	for k, v := range Pairs(&r, doc.Content[0], "top", "a key must be a name") {
		got = append(got, k.Value+"="+v.Value)
		if k.Value == "x" {
			r.Addf(k, "", "unknown key x") // between the pairs' problems
		}
	}
	if want := "x=1 a=2 y=5"; strings.Join(got, " ") != want {
		t.Errorf("pairs %q, want %q", got, want)
	}
	want := `f.yaml:1: unknown key x
f.yaml:1: top: a key must be a name, got a list
f.yaml:1: top: duplicate key "a" (first at line 1)`
	if got := r.Err().Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDocument(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"", "f.yaml:1: the file is empty"},
		{"~\n", "f.yaml:1: the file holds no thing"},
		{"a: 1\n---\nb: 2\n", "f.yaml:2: a second YAML document: a thing file holds one"},
		{"a: &x 1\nb: *x\n", "f.yaml:2: alias *x: aliases are not supported, write the value out"},
		{"a: [\n", "f.yaml:1: invalid YAML: did not find expected node content"},
		{strings.Repeat("#", MaxFileSize+1), "f.yaml:1: the file is 1048577 bytes, over the limit of 1 MiB"},
	} {
		r := Report{File: "f.yaml"}
		if n := Document(&r, []byte(tc.data), "thing"); n != nil {
			t.Errorf("%.20q: got a root", tc.data)
		}
		if err := r.Err(); err == nil || err.Error() != tc.want {
			t.Errorf("%.20q: got %v, want %s", tc.data, err, tc.want)
		}
	}
	r := Report{File: "f.yaml"}
	if n := Document(&r, []byte("a: 1\n"), "thing"); n == nil || n.Kind != yaml.MappingNode || r.Err() != nil {
		t.Errorf("a mapping: %v, %v", n, r.Err())
	}
}

func TestReaders(t *testing.T) {
	node := func(s string) *yaml.Node {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	if s, why := Str(node("abc")); s != "abc" || why != "" {
		t.Errorf("Str: %q %q", s, why)
	}
	if s, why := Str(node("3")); s != "" || why != "must be a string, got 3" {
		t.Errorf("Str(3): %q %q", s, why)
	}
	if b, why := Bool(node("yes")); b || why != `must be true or false, got "yes"` {
		t.Errorf("Bool(yes): %v %q", b, why)
	}
	if i, why := Int(node("7"), 1, 5); i != 0 || why != "must be in 1..5, got 7" {
		t.Errorf("Int(7): %d %q", i, why)
	}
	if i, why := Int(node("1.5"), 1, 5); i != 0 || why != "must be an integer, got 1.5" {
		t.Errorf("Int(1.5): %d %q", i, why)
	}
	if items, why := List(node("[1, 2, 3]"), 2); items != nil || why != "has 3 entries, at most 2" {
		t.Errorf("List: %v %q", items, why)
	}
	if items, why := List(node("{a: 1}"), 2); items != nil || why != "must be a list, got a mapping" {
		t.Errorf("List(mapping): %v %q", items, why)
	}
}
