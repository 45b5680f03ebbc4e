package connector

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// registry holds the connector types the connectors section may name:
// the built-ins, and those registered from init functions, before any
// pipeline is parsed. It never changes afterwards. Inbound and outbound
// types are apart: kafka is one of each.
var registry = struct {
	inbound  map[string]*inboundType
	outbound map[string]*outboundType
}{map[string]*inboundType{}, map[string]*outboundType{}}

type inboundType struct {
	parse   func(p *Params) InboundSpec
	builtin bool
}

type outboundType struct {
	parse   func(p *Params) OutboundSpec
	builtin bool
}

var typeNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

const typeNameRule = "a connector type is lower-case letters, digits and - (at most 64), starting with a letter"

// validType reports whether s is a valid connector type name.
func validType(s string) bool { return len(s) <= MaxNameLen && typeNamePattern.MatchString(s) }

// RegisterInbound makes an inbound connector type available to the
// connectors section under typ. Call it from an init function (in the
// manner of database/sql drivers). parse reads an entry's parameters
// with p, reporting their problems through it, and returns what the
// type's adapter needs (a nil spec is fine once parse reported a
// problem); a key it never asks p for is reported as unknown. It panics
// if typ is taken (built-ins included) or not a valid name (lower-case
// letters, digits and -, starting with a letter), or parse is nil.
func RegisterInbound(typ string, parse func(p *Params) InboundSpec) {
	checkRegister("RegisterInbound", typ, parse == nil, registry.inbound[typ] != nil, registry.inbound[typ] != nil && registry.inbound[typ].builtin)
	registry.inbound[typ] = &inboundType{parse: parse}
}

// RegisterOutbound is RegisterInbound for an outbound destination type.
// The delivery keys (max_attempts, backoff_min, ...) and type are the
// engine's: a parse function that asks p for one is reported as broken.
func RegisterOutbound(typ string, parse func(p *Params) OutboundSpec) {
	checkRegister("RegisterOutbound", typ, parse == nil, registry.outbound[typ] != nil, registry.outbound[typ] != nil && registry.outbound[typ].builtin)
	registry.outbound[typ] = &outboundType{parse: parse}
}

func checkRegister(fn, typ string, noParse, taken, builtin bool) {
	switch {
	case !validType(typ):
		panic(fmt.Sprintf("connector: %s: %q is not valid: %s", fn, typ, typeNameRule))
	case noParse:
		panic(fmt.Sprintf("connector: %s: %q needs a parse function", fn, typ))
	case builtin:
		panic(fmt.Sprintf("connector: %s: %q is a built-in type", fn, typ))
	case taken:
		panic(fmt.Sprintf("connector: %s: %q is already registered", fn, typ))
	}
}

// InboundTypes returns the inbound types the connectors section may
// name, built-ins included, sorted.
func InboundTypes() []string { return slices.Sorted(maps.Keys(registry.inbound)) }

// OutboundTypes returns the outbound types, built-ins included, sorted.
func OutboundTypes() []string { return slices.Sorted(maps.Keys(registry.outbound)) }
