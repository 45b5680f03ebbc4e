package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

// MaxIterations bounds the range iterations of one template execution:
// a loop that writes nothing is bounded by nothing else.
const MaxIterations = 100000

// Template is a text/template that renders a message of the outbound
// queue (a webhook's body, a Kafka record's key or value). It sees:
//
//	.Destination      the destination's name
//	.Seq              the message's position in its outbound queue
//	.IdempotencyKey   the same for every attempt at the message
//	.MessageID        the inbound message whose chain sent it
//	.Key              the routing key of that chain
//	.Value            the value, as JSON text: {{.Value}} writes it as it is
//	.Object           the value decoded (numbers as json.Number): {{.Object.id}}
//
// and the functions of text/template, plus json, which writes its
// argument as JSON ({{json .Object.name}} writes "Ada" with its quotes).
// A field .Object lacks is an error: a template reads an optional one
// with {{with index .Object "x"}}{{json .}}{{end}}. Nothing a template may call reads the clock or
// randomness, so a message renders the same on every instance and in
// every attempt.
//
// A template is bounded: at most MaxTemplate bytes of source, no
// templates defined or called in it (so no recursion), at most
// MaxIterations range iterations and MaxRendered bytes of output per
// execution, and print, printf, println, html, js and urlquery stop
// building a string past MaxRendered. A Template is immutable, and safe
// to share.
type Template struct {
	name string
	src  string
	t    *template.Template
}

// templateFields are the fields a template's data has, for the check of
// the names a template uses.
var templateFields = []string{"Destination", "Seq", "IdempotencyKey", "MessageID", "Key", "Value", "Object"}

// loopFunc is the function called at the start of every range
// iteration: it counts them. A template author cannot name it by
// accident, and gains nothing by naming it on purpose.
const loopFunc = "_connector_loop"

// templateFuncs are the functions a template may call beyond
// text/template's own, and the bounded versions of those of text/template's
// that build strings.
var templateFuncs = template.FuncMap{
	"json":     jsonFunc,
	"print":    boundedPrint,
	"println":  boundedPrintln,
	"printf":   boundedPrintf,
	"html":     func(args ...any) (string, error) { return escaped(template.HTMLEscapeString, args) },
	"js":       func(args ...any) (string, error) { return escaped(template.JSEscapeString, args) },
	"urlquery": func(args ...any) (string, error) { return escaped(url.QueryEscape, args) },
	loopFunc:   countIteration,
}

// ParseTemplate parses src as a template named name (the key it is
// written under: execution errors name it). The error says what is wrong
// in the template's words, with the line in the template when it has
// several.
func ParseTemplate(name, src string) (*Template, error) {
	if len(src) > MaxTemplate {
		return nil, fmt.Errorf("the template is %d bytes, over the limit of 16 KiB", len(src))
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(src)
	if err != nil {
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "template: "+name+":"); ok {
			line, text, ok := strings.Cut(rest, ": ")
			if _, err := strconv.Atoi(line); ok && err == nil {
				msg = text
				if strings.Contains(src, "\n") {
					msg = "line " + line + ": " + text
				}
			}
		}
		return nil, fmt.Errorf("invalid template: %s", msg)
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("invalid template: it may not define templates")
	}
	c := &treeCheck{tree: t.Tree}
	c.list(t.Tree.Root, true)
	if c.err != nil {
		return nil, c.err
	}
	return &Template{name: name, src: src, t: t}, nil
}

// Source returns the template as written.
func (t *Template) Source() string { return t.src }

// Name returns the key the template is written under.
func (t *Template) Name() string { return t.name }

// Execute renders m. The error is the template's (text/template's
// wording, naming the template), or says it rendered over MaxRendered.
func (t *Template) Execute(m *Message) ([]byte, error) {
	d := &templateData{
		Destination: m.Destination, Seq: m.Seq, IdempotencyKey: m.IdempotencyKey,
		MessageID: m.MessageID, Key: m.Key, Value: jsonText(m.Value),
	}
	w := &cappedBuffer{err: fmt.Errorf("template: %s: renders over 4 MiB (MaxRendered)", t.name)}
	if err := t.t.Execute(w, d); err != nil {
		return nil, err
	}
	if w.buf == nil {
		return []byte{}, nil
	}
	return w.buf, nil
}

// templateData is what a template sees as its dot.
type templateData struct {
	Destination    string
	Seq            uint64
	IdempotencyKey string
	MessageID      string
	Key            string
	Value          jsonText

	iterations int
	object     any
	objectErr  error
	decoded    bool
}

// Object returns the value decoded, numbers as json.Number; it decodes it
// once, the first time a template asks.
func (d *templateData) Object() (any, error) {
	if !d.decoded {
		d.decoded = true
		dec := json.NewDecoder(strings.NewReader(string(d.Value)))
		dec.UseNumber()
		if err := dec.Decode(&d.object); err != nil {
			d.objectErr = fmt.Errorf("the value is not JSON: %v", err)
		} else if dec.More() {
			d.objectErr = errors.New("the value is not one JSON value")
		}
	}
	return d.object, d.objectErr
}

// jsonText is JSON as text: a template writes it as it is, and json
// writes it as the JSON it holds, not as a string of it.
type jsonText string

// MarshalJSON returns the text itself (encoding/json checks it and
// compacts it).
func (t jsonText) MarshalJSON() ([]byte, error) { return []byte(t), nil }

// jsonFunc writes v as JSON, without escaping <, > and & (a template
// renders JSON for machines, not HTML).
func jsonFunc(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// countIteration counts one range iteration against MaxIterations. The
// parse inserts a call of it, with $, at the start of every range body.
func countIteration(root any) (string, error) {
	d, ok := root.(*templateData)
	if !ok {
		return "", errors.New("$ was assigned: a template may not assign $")
	}
	if d.iterations++; d.iterations > MaxIterations {
		return "", fmt.Errorf("over %d range iterations (MaxIterations)", MaxIterations)
	}
	return "", nil
}

// cappedBuffer collects output up to MaxRendered bytes; past it a write
// fails with err.
type cappedBuffer struct {
	buf []byte
	err error
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if len(c.buf)+len(p) > MaxRendered {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *cappedBuffer) WriteString(s string) (int, error) {
	if len(c.buf)+len(s) > MaxRendered {
		return 0, c.err
	}
	c.buf = append(c.buf, s...)
	return len(s), nil
}

// The replacements of text/template's print, println, printf, html, js
// and urlquery behave as fmt's Sprint, Sprintln and Sprintf do, but
// format one operand at a time and stop past MaxRendered bytes: fmt
// builds its whole result before it returns it, and a 16 KiB template
// could name a large value thousands of times.

var errPrintSize = errors.New("the result is over 4 MiB (MaxRendered)")

var noOperands []any

func isString(a any) bool { return a != nil && reflect.TypeOf(a).Kind() == reflect.String }

func boundedPrint(args ...any) (string, error) {
	b := &cappedBuffer{err: errPrintSize}
	for i, a := range args {
		if i > 0 && !isString(a) && !isString(args[i-1]) {
			if _, err := b.WriteString(" "); err != nil {
				return "", err
			}
		}
		if _, err := fmt.Fprint(b, a); err != nil {
			return "", err
		}
	}
	return string(b.buf), nil
}

func boundedPrintln(args ...any) (string, error) {
	b := &cappedBuffer{err: errPrintSize}
	for i, a := range args {
		if i > 0 {
			if _, err := b.WriteString(" "); err != nil {
				return "", err
			}
		}
		if _, err := fmt.Fprint(b, a); err != nil {
			return "", err
		}
	}
	if _, err := b.WriteString("\n"); err != nil {
		return "", err
	}
	return string(b.buf), nil
}

// boundedPrintf formats one verb at a time. It refuses explicit argument
// indexes ([n]) and widths or precisions taken from an operand (*),
// which would tie one verb to operands other than the next, and %p, the
// one verb that prints what a template can reach as an address (the rest
// print JSON values and the data's fields as values).
func boundedPrintf(format string, args ...any) (string, error) {
	b := &cappedBuffer{err: errPrintSize}
	next := 0
	for i := 0; i < len(format); {
		j := strings.IndexByte(format[i:], '%')
		if j < 0 {
			if _, err := b.WriteString(format[i:]); err != nil {
				return "", err
			}
			break
		}
		if _, err := b.WriteString(format[i : i+j]); err != nil {
			return "", err
		}
		i += j
		k := i + 1
		for k < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[k]) >= 0 {
			k++
		}
		if k == len(format) {
			if _, err := b.WriteString("%!(NOVERB)"); err != nil {
				return "", err
			}
			break
		}
		_, size := utf8.DecodeRuneInString(format[k:])
		verb := format[i : k+size]
		i = k + size
		if strings.ContainsAny(verb, "*[") {
			return "", fmt.Errorf("printf: %q: a template's printf takes no * or [n]", verb)
		}
		if verb[len(verb)-1] == 'p' {
			return "", fmt.Errorf("printf: %q: a template's printf has no %%p: an address differs from run to run", verb)
		}
		var err error
		switch {
		case verb[len(verb)-1] == '%':
			_, err = fmt.Fprintf(b, verb, noOperands...)
		case next < len(args):
			_, err = fmt.Fprintf(b, verb, args[next])
			next++
		default:
			_, err = fmt.Fprintf(b, verb, noOperands...) // fmt says %!d(MISSING)
		}
		if err != nil {
			return "", err
		}
	}
	if next < len(args) {
		// As fmt says it: %!(EXTRA type=value, ...).
		if _, err := b.WriteString("%!(EXTRA "); err != nil {
			return "", err
		}
		for i, a := range args[next:] {
			sep := ", "
			if i == 0 {
				sep = ""
			}
			if a == nil {
				if _, err := b.WriteString(sep + "<nil>"); err != nil {
					return "", err
				}
				continue
			}
			if _, err := b.WriteString(sep + reflect.TypeOf(a).String() + "="); err != nil {
				return "", err
			}
			if _, err := fmt.Fprint(b, a); err != nil {
				return "", err
			}
		}
		if _, err := b.WriteString(")"); err != nil {
			return "", err
		}
	}
	return string(b.buf), nil
}

// escaped is text/template's html, js and urlquery: the operands printed
// as print does, then escaped.
func escaped(escape func(string) string, args []any) (string, error) {
	s, err := boundedPrint(args...)
	if err != nil {
		return "", err
	}
	return escape(s), nil
}

// treeCheck checks a parsed template: no template calls, fields its data
// has; and inserts the iteration count into every range.
type treeCheck struct {
	tree *parse.Tree
	err  error
}

func (c *treeCheck) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("invalid template: "+format, args...)
	}
}

// list checks the nodes of l; root tells whether dot is the template's
// data there (not inside range or with).
func (c *treeCheck) list(l *parse.ListNode, root bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			c.pipe(n.Pipe, root)
		case *parse.IfNode:
			c.pipe(n.Pipe, root)
			c.list(n.List, root)
			c.list(n.ElseList, root)
		case *parse.RangeNode:
			c.pipe(n.Pipe, root)
			c.list(n.List, false)
			c.list(n.ElseList, root)
			c.countIterations(&n.BranchNode)
		case *parse.WithNode:
			c.pipe(n.Pipe, root)
			c.list(n.List, false)
			c.list(n.ElseList, root)
		case *parse.TemplateNode:
			c.fail("it may not call templates ({{template %q}})", n.Name)
		}
	}
}

func (c *treeCheck) pipe(p *parse.PipeNode, root bool) {
	if p == nil {
		return
	}
	for _, cmd := range p.Cmds {
		for _, arg := range cmd.Args {
			c.arg(arg, root)
		}
	}
}

func (c *treeCheck) arg(n parse.Node, root bool) {
	switch n := n.(type) {
	case *parse.FieldNode:
		if root {
			c.field(n.Ident[0], "."+strings.Join(n.Ident, "."))
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			c.field(n.Ident[1], strings.Join(n.Ident, "."))
		}
	case *parse.IdentifierNode:
		if n.Ident == loopFunc {
			c.fail("%s is the engine's", loopFunc)
		}
	case *parse.PipeNode:
		c.pipe(n, root)
	case *parse.ChainNode:
		c.arg(n.Node, root)
	}
}

func (c *treeCheck) field(name, written string) {
	for _, f := range templateFields {
		if f == name {
			return
		}
	}
	c.fail("%s: the data has no field %s%s", written, name, yamlcheck.Hint(name, templateFields))
}

// countIterations makes the range's body start by counting an iteration:
// {{_connector_loop $}}, which prints nothing.
func (c *treeCheck) countIterations(b *parse.BranchNode) {
	call := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: b.Pos, Args: []parse.Node{
		parse.NewIdentifier(loopFunc).SetTree(c.tree).SetPos(b.Pos),
		&parse.VariableNode{NodeType: parse.NodeVariable, Pos: b.Pos, Ident: []string{"$"}},
	}}
	action := &parse.ActionNode{NodeType: parse.NodeAction, Pos: b.Pos, Line: b.Line,
		Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Pos: b.Pos, Line: b.Line, Cmds: []*parse.CommandNode{call}}}
	b.List.Nodes = append([]parse.Node{action}, b.List.Nodes...)
}
