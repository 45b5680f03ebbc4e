package handler

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Steps and payload fields over a small vocabulary, so that steps meet
// the fields they name often.
var (
	propSteps = []string{
		"- rename: {a: b}",
		`- rename: {b: "c.d"}`,
		"- drop: [a]",
		"- drop: c",
		"- map: {x: $.a}",
		"- map: {x: {path: $.b, default: 0}}",
		`- map: {"c.e": {const: [1, 2]}}`,
		"- map: {all: $}",
		"- map: {h: {header: X-Kind, default: none}, id: {message: id}}",
		"- filter: {when: {field: {$.a: {exists: true}}}}",
		"- filter: {when: {not: {field: {$.b: 1}}}}",
		"- split: {field: l, keep: [a]}",
		"- enrich: {type: Customer, key: {id: $.cid}, into: cust, missing: skip}",
		"- enrich: {type: Customer, key: {id: $.cid}, into: cust, fields: [tier], missing: null}",
		"- outbound: o",
		"- test-upper",
		"- test-twice",
		"- set-type: T",
		"- set-type: {type: U, version: 2}",
	}
	propValues = []string{`"x"`, `1`, `2.50`, `true`, `null`, `[1,"x"]`, `{"a":"x","d":1}`, `"c1"`, `"c2"`}
)

func drawPipeline(t *rapid.T) string {
	steps := rapid.SliceOfN(rapid.SampledFrom(propSteps), 1, 8).Draw(t, "steps")
	if rapid.Bool().Draw(t, "typed") {
		steps = append(steps, "- set-type: T")
	}
	return chainOf(steps...)
}

func drawInput(t *rapid.T) *Input {
	in := &Input{ID: "m1", Connector: "crm"}
	// Header names that differ only in case: one of them must win, the
	// same one every time.
	in.Headers = map[string]string{}
	for _, name := range []string{"X-Kind", "x-kind", "X-KIND"} {
		if rapid.Bool().Draw(t, "has "+name) {
			in.Headers[name] = rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, name)
		}
	}
	var fields []string
	for _, f := range []string{"a", "b", "c", "cid", "name"} {
		if rapid.Bool().Draw(t, "has "+f) {
			fields = append(fields, fmt.Sprintf("%q:%s", f, rapid.SampledFrom(propValues).Draw(t, f)))
		}
	}
	if rapid.Bool().Draw(t, "has l") {
		var elems []string
		for range rapid.IntRange(0, 4).Draw(t, "elements") {
			elems = append(elems, rapid.SampledFrom(append([]string{`{}`, `{"a":1}`, `{"cid":"c1","name":"x"}`}, propValues...)).Draw(t, "element"))
		}
		fields = append(fields, `"l":[`+strings.Join(elems, ",")+"]")
	}
	in.Payload = []byte("{" + strings.Join(fields, ",") + "}")
	return in
}

// TestPropRunDeterministic: the same message through the same file,
// parsed twice, gives byte-identical outcomes, run after run.
func TestPropRunDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := drawPipeline(t)
		a, err := Parse("a.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%v\n%s", err, src)
		}
		b, err := Parse("b.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		in := drawInput(t)
		first, err := json.Marshal(a.Run(in, testLookup, testNow))
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range []*Pipeline{a, b, a, b} {
			o := p.Run(in, testLookup, testNow)
			checkOutcome(t, o)
			again, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(first) {
				t.Fatalf("run %d differs:\n%s\n%s\n%s\n%s", i, first, again, src, in.Payload)
			}
		}
	})
}

// TestPropSplitCount: a split of n elements yields n objects, each the
// element with the kept fields, in order.
func TestPropSplitCount(t *testing.T) {
	p := mustParse(t, chainOf("- split: {field: l, keep: {parent: id}}", "- outbound: each", "- set-type: Line"))
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 300).Draw(t, "n")
		elems := make([]string, n)
		for i := range elems {
			elems[i] = fmt.Sprintf(`{"i":%d,"v":%s}`, i, rapid.SampledFrom(propValues).Draw(t, "v"))
		}
		in := &Input{Payload: []byte(`{"id":"o1","l":[` + strings.Join(elems, ",") + `]}`)}
		o := p.Run(in, nil, testNow)
		if o.Failure != nil {
			t.Fatal(o.Failure.Reason)
		}
		checkOutcome(t, o)
		if len(o.Objects) != n || len(o.Outbound) != n {
			t.Fatalf("%d elements gave %d objects and %d outbound messages", n, len(o.Objects), len(o.Outbound))
		}
		for i, obj := range o.Objects {
			v, why := decodeObject(obj.Value)
			if why != "" || v["i"] != json.Number(fmt.Sprint(i)) || v["parent"] != "o1" || len(v) != 3 || obj.Type != "Line" {
				t.Fatalf("object %d: %s", i, obj.Value)
			}
		}
		if o.Steps != 1+2*n {
			t.Fatalf("%d steps for %d elements", o.Steps, n)
		}
	})
}
