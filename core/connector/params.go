package connector

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// Limits on one entry's parameters.
const (
	MaxListItems  = 64      // strings in a Strings list (brokers)
	MaxHeaders    = 64      // headers in a Headers mapping
	MaxHeaderSize = 8 << 10 // bytes of a header's value
)

// Params is one entry of the connectors section (an inbound connector or
// an outbound destination) as its type's parse function reads it. Each
// reader takes a key, reports what is wrong with its value at the
// value's line under the entry's path (connectors.outbound.audit.url),
// and returns the value, or the default when the key is absent or its
// value was reported. Once parse returns, every key of the entry no
// reader asked for is reported as unknown, with the keys that were asked
// for as the hint: a type's vocabulary is what it reads.
type Params struct {
	report  *yamlcheck.Report
	node    *yaml.Node // the entry's mapping
	path    string
	name    string
	entries []entry // in file order, duplicates and odd keys left out (and reported)
	asked   map[string]bool
	// common are the keys the section reads itself (type, and an outbound
	// destination's delivery keys); a type's parse function may not.
	common []string
	// inType is true while the type's parse function runs.
	inType bool
}

// entry is one key and value of a mapping.
type entry struct {
	key, val *yaml.Node
}

func newParams(report *yamlcheck.Report, n *yaml.Node, path, name string, common []string) *Params {
	p := &Params{report: report, node: n, path: path, name: name, asked: map[string]bool{}, common: common}
	for k, v := range yamlcheck.Pairs(report, n, path, "a key must be a name") {
		p.entries = append(p.entries, entry{k, v})
	}
	return p
}

// Name returns the entry's name: the connector's or the destination's.
func (p *Params) Name() string { return p.name }

// Path returns the entry's path in its file, such as
// connectors.outbound.audit.
func (p *Params) Path() string { return p.path }

func (p *Params) at(key string) string {
	if key == "" {
		return p.path
	}
	return p.path + "." + key
}

// lookup returns the value of key, or nil when it is absent or null (a
// null is reported: a key with no value is a mistake, not a default).
func (p *Params) lookup(key string) (k, v *yaml.Node) {
	if p.inType && slices.Contains(p.common, key) {
		panic(fmt.Sprintf("reads the key %s, which is the engine's", key))
	}
	p.asked[key] = true
	for _, e := range p.entries {
		if e.key.Value != key {
			continue
		}
		if yamlcheck.IsNull(e.val) {
			p.report.Addf(e.key, p.path, "`%s` has no value: give it one or leave the key out", key)
			return e.key, nil
		}
		return e.key, e.val
	}
	return nil, nil
}

// has reports whether the entry has key, whatever its value, without
// asking for it.
func (p *Params) has(key string) bool {
	return slices.ContainsFunc(p.entries, func(e entry) bool { return e.key.Value == key })
}

// missing reports a required key that is absent; k is what lookup
// returned for it (a null's key: reported already).
func (p *Params) missing(k *yaml.Node, key string) {
	if k == nil {
		p.report.Addf(p.node, p.path, "missing required key `%s`", key)
	}
}

// Errorf reports a problem with key's value, at its line (the entry's
// when the key is absent, or is ""), under the key's path.
func (p *Params) Errorf(key, format string, args ...any) {
	n := p.node
	for _, e := range p.entries {
		if key != "" && e.key.Value == key {
			n = e.val
			break
		}
	}
	p.report.Addf(n, p.at(key), format, args...)
}

// String reads a string. A required key that is absent, or an empty
// string for one, is reported.
func (p *Params) String(key string, required bool) string {
	k, v := p.lookup(key)
	if v == nil {
		if required {
			p.missing(k, key)
		}
		return ""
	}
	s, why := yamlcheck.Str(v)
	if !p.report.Check(v, p.at(key), why) {
		return ""
	}
	if s == "" && required {
		p.report.Addf(v, p.at(key), "must not be empty")
	}
	return s
}

// Strings reads a list of 1..MaxListItems non-empty strings, each once,
// or a single string as a list of one. It returns nil when the key is
// absent (reported if required) or has a problem.
func (p *Params) Strings(key string, required bool) []string {
	k, v := p.lookup(key)
	if v == nil {
		if required {
			p.missing(k, key)
		}
		return nil
	}
	path := p.at(key)
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		var why string
		if items, why = yamlcheck.List(v, MaxListItems); !p.report.Check(v, path, why) {
			return nil
		}
		if len(items) == 0 {
			p.report.Addf(v, path, "must not be empty")
			return nil
		}
	}
	return eachItem(v, items, path, func(item *yaml.Node, at string, before []string) (string, bool) {
		s, why := yamlcheck.Str(item)
		switch {
		case why != "":
			p.report.Addf(item, at, "%s", why)
		case s == "":
			p.report.Addf(item, at, "must not be empty")
		case slices.Contains(before, s):
			p.report.Addf(item, at, "%s is listed twice", yamlcheck.Quote(s))
		default:
			return s, true
		}
		return s, false
	})
}

// eachItem reads items, those of v, a list, or v alone standing for a
// list of one, with read, which gets each item's path and the values read
// before it and reports the item's problems itself. It returns the
// values read, or nil when any item had a problem.
func eachItem(v *yaml.Node, items []*yaml.Node, path string, read func(item *yaml.Node, at string, before []string) (string, bool)) []string {
	var out []string
	ok := true
	for i, item := range items {
		at := path
		if v.Kind == yaml.SequenceNode {
			at = fmt.Sprintf("%s[%d]", path, i)
		}
		s, good := read(item, at, out)
		ok = ok && good
		out = append(out, s)
	}
	if !ok {
		return nil
	}
	return out
}

// OneOf reads a string that must be one of values (as written, case
// included), or def when the key is absent.
func (p *Params) OneOf(key string, values []string, def string) string {
	_, v := p.lookup(key)
	if v == nil {
		return def
	}
	s, why := yamlcheck.Str(v)
	if why == "" && !slices.Contains(values, s) {
		why = "must be " + orList(values) + ", got " + yamlcheck.Describe(v)
	}
	if !p.report.Check(v, p.at(key), why) {
		return def
	}
	return s
}

// orList writes values as "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// Int reads an integer in lo..hi, or def when the key is absent.
func (p *Params) Int(key string, lo, hi, def int) int {
	_, v := p.lookup(key)
	if v == nil {
		return def
	}
	i, why := yamlcheck.Int(v, lo, hi)
	if !p.report.Check(v, p.at(key), why) {
		return def
	}
	return i
}

// sizeUnits are the units a size may be written in, largest first.
var sizeUnits = []struct {
	name string
	size int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

var sizePattern = regexp.MustCompile(`^([0-9]+) ?([A-Za-z]*)$`)

// Bytes reads a size in bytes in lo..hi: an integer, or an integer with
// a unit, B, KiB, MiB or GiB (8MiB, 512 KiB); def when the key is absent.
func (p *Params) Bytes(key string, lo, hi, def int64) int64 {
	_, v := p.lookup(key)
	if v == nil {
		return def
	}
	path := p.at(key)
	n, ok := parseSize(v)
	if !ok {
		p.report.Addf(v, path, "must be a size such as 512KiB or 8MiB, got %s", asWritten(v))
		return def
	}
	if n < lo || n > hi {
		p.report.Addf(v, path, "must be in %s..%s, got %s", formatSize(lo), formatSize(hi), asWritten(v))
		return def
	}
	return n
}

func parseSize(v *yaml.Node) (int64, bool) {
	if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!int" && v.ShortTag() != "!!str") {
		return 0, false
	}
	m := sizePattern.FindStringSubmatch(v.Value)
	if m == nil || (v.ShortTag() == "!!int" && m[2] != "") {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	if m[2] == "" {
		return n, true
	}
	for _, u := range sizeUnits {
		if u.name == m[2] {
			if n > math.MaxInt64/u.size {
				return 0, false
			}
			return n * u.size, true
		}
	}
	return 0, false
}

// formatSize writes n in the largest unit that divides it: 8MiB, 1000.
func formatSize(n int64) string {
	for _, u := range sizeUnits[:len(sizeUnits)-1] {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// Duration reads a Go duration (300ms, 1.5s, 2h) in lo..hi, or def when
// the key is absent.
func (p *Params) Duration(key string, lo, hi, def time.Duration) time.Duration {
	_, v := p.lookup(key)
	if v == nil {
		return def
	}
	path := p.at(key)
	tag := v.ShortTag()
	if v.Kind != yaml.ScalarNode || (tag != "!!str" && tag != "!!int" && tag != "!!float") {
		p.report.Addf(v, path, "must be a duration such as 1.5s or 300ms, got %s", yamlcheck.Describe(v))
		return def
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		if _, e := strconv.ParseFloat(v.Value, 64); e == nil {
			p.report.Addf(v, path, "needs a unit, such as 1.5s or 300ms, got %s", asWritten(v))
		} else {
			p.report.Addf(v, path, "must be a duration such as 1.5s or 300ms, got %s", asWritten(v))
		}
		return def
	}
	if d < lo || d > hi {
		p.report.Addf(v, path, "must be in %s..%s, got %s", yamlcheck.ShortDuration(lo), yamlcheck.ShortDuration(hi), asWritten(v))
		return def
	}
	return d
}

// asWritten is a scalar as the file has it (8MiB, not "8MiB"), for
// messages about values whose kind is not in doubt.
func asWritten(v *yaml.Node) string {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && len(v.Value) <= 40 && !strings.ContainsAny(v.Value, " \t\n\"") && v.Value != "" {
		return v.Value
	}
	return yamlcheck.Describe(v)
}

// headerPattern is an HTTP field name: RFC 9110's token.
var headerPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// ValidHeaderName reports whether s may name a header: an RFC 9110 token
// of at most MaxNameLen bytes.
func ValidHeaderName(s string) bool { return len(s) <= MaxNameLen && headerPattern.MatchString(s) }

// Headers reads a mapping of header names to values (at most MaxHeaders;
// a name an RFC 9110 token, each name once ignoring case; a value a
// string of at most MaxHeaderSize bytes without control characters but
// tab), sorted by name. It returns nil when the key is absent or has a
// problem.
func (p *Params) Headers(key string) []Header { return p.headers(key) }

// headers is Headers; a name among reserved (ignoring case) is reported
// as the engine's.
func (p *Params) headers(key string, reserved ...string) []Header {
	_, v := p.lookup(key)
	if v == nil {
		return nil
	}
	path := p.at(key)
	if v.Kind != yaml.MappingNode {
		p.report.Addf(v, path, "must be a mapping of header names to values, got %s", yamlcheck.Describe(v))
		return nil
	}
	if len(v.Content)/2 > MaxHeaders {
		p.report.Addf(v, path, "has %d headers, at most %d", len(v.Content)/2, MaxHeaders)
		return nil
	}
	before := p.report.Len()
	var out []Header
	seen := map[string]*yaml.Node{}
	for k, val := range yamlcheck.Pairs(p.report, v, path, "a key must be a header name") {
		name := k.Value
		if !ValidHeaderName(name) {
			p.report.Addf(k, path, "%s is not a header name: letters, digits and !#$%%&'*+-.^_`|~ (at most %d)", yamlcheck.Quote(name), MaxNameLen)
			continue
		}
		at := path + "." + name
		folded := strings.ToLower(name)
		if first, dup := seen[folded]; dup {
			p.report.Addf(k, path, "duplicate header %s (first at line %d as %s): header names ignore case", yamlcheck.Quote(name), first.Line, first.Value)
			continue
		}
		seen[folded] = k
		if i := slices.IndexFunc(reserved, func(r string) bool { return strings.EqualFold(r, name) }); i >= 0 {
			p.report.Addf(k, at, "%s is set by the engine: every request carries each message's own", reserved[i])
			continue
		}
		s, why := yamlcheck.Str(val)
		if !p.report.Check(val, at, why) {
			continue
		}
		if len(s) > MaxHeaderSize {
			p.report.Addf(val, at, "is %d bytes, at most %d", len(s), MaxHeaderSize)
			continue
		}
		if strings.IndexFunc(s, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
			p.report.Addf(val, at, "must not hold a line break or another control character")
			continue
		}
		out = append(out, Header{Name: name, Value: s})
	}
	if p.report.Len() != before {
		return nil
	}
	sortHeaders(out)
	return out
}

// sortHeaders sorts headers by name, byte by byte.
func sortHeaders(hs []Header) {
	slices.SortStableFunc(hs, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
}

// Template reads a template (see Template), or parses def when the key
// is absent; nil when def is "" and the key absent, or when it reported
// a problem.
func (p *Params) Template(key, def string) *Template {
	_, v := p.lookup(key)
	if v == nil {
		if def == "" {
			return nil
		}
		t, err := ParseTemplate(key, def)
		if err != nil {
			panic(fmt.Sprintf("the default template of %s does not parse: %v", key, err))
		}
		return t
	}
	path := p.at(key)
	s, why := yamlcheck.Str(v)
	if !p.report.Check(v, path, why) {
		return nil
	}
	t, err := ParseTemplate(key, s)
	if err != nil {
		p.report.Addf(v, path, "%v", err)
		return nil
	}
	return t
}

// unknown reports every key no reader asked for.
func (p *Params) unknown() {
	known := slices.Sorted(maps.Keys(p.asked))
	for _, e := range p.entries {
		if !p.asked[e.key.Value] {
			p.report.Addf(e.key, p.path, "unknown key %s%s", yamlcheck.Quote(e.key.Value), yamlcheck.Hint(e.key.Value, known))
		}
	}
}
