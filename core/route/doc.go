// Package route holds the routing rules of the inbound pipeline: which
// routing keys a message handed in by a connector gets, from its
// connector, its headers and the fields of its JSON payload. Parse reads
// the rules from YAML; Rules.Route applies them to one message.
//
// The package runs inside the deterministic engine: no goroutines, no
// clock, and no map iteration whose order reaches a result. Route is a
// pure function of the rules and the message.
//
// # Why a declarative matcher
//
// Rules are declarations (conditions on named parts of a message), not
// expressions in a small language. Everything in a rules file is checked
// when it is loaded: an unknown operator, a malformed JSON path or an
// operand of the wrong kind is an error naming its line, before any
// message is routed. The cost of routing one message is bounded by the
// file (at most MaxRules rules of at most MaxConditions conditions, paths
// of at most MaxPathSteps steps, the payload parsed at most once and at
// most MaxPayloadSize bytes), with no loops or recursion a rule author can
// write. There is nothing to sandbox, and both the parser and the
// evaluator are small enough to fuzz. An expression language can come
// later, beside this one, if declarations prove too weak.
//
// # The rules file
//
// One YAML document (at most 1 MiB, no aliases, no second document):
//
//	default: fallback            # optional routing key when no rule matches
//	rules:
//	  - name: customers          # unique: letters, digits and _, not starting with a digit (at most 64)
//	    when:                    # every condition must hold; leave `when` out to match every message
//	      connector: crm         # the connector's name: a string, or a list (any of)
//	      header: {X-Kind: customer}   # header equals: a string or a list (any of)
//	      field:                       # JSON paths into the payload
//	        $.type: customer           # equals
//	        $.source: {prefix: "crm-"} # operators
//	        $.amount: {gt: 100}
//	      any:                         # alternatives: at least one must hold
//	        - field: {$.kind: a}
//	        - field: {$.kind: b}
//	      not: {header: {X-Test: "1"}} # negation
//	    keys: [customers, audit] # routing keys this rule assigns
//	    stop: true               # stop at this rule when it matches
//
// Top-level keys:
//
//   - default: a routing key given to a message no rule matched. Without
//     one, such a message goes to the repair queue with the reason "no rule
//     matched".
//   - rules: a list of at most MaxRules rules, tried in order. A file must
//     have a rule or a default.
//
// A rule's keys:
//
//   - name (required): the rule's name, unique in the file; Result.Rules
//     lists the names of the rules that matched.
//   - when: a condition mapping (below). Absent, the rule matches every
//     message.
//   - keys (required): the routing keys the rule assigns, 1..MaxKeys
//     distinct names of letters, digits, _ and -, not starting with a
//     digit or - (at most 64); a single key may be written without the list.
//   - stop: true or false (the default). A matching rule with stop: true
//     ends the routing; otherwise every matching rule adds its keys.
//
// A condition mapping (`when`, each alternative of `any`, and `not`) has
// at least one of these keys, and holds when all of them hold:
//
//   - connector: the name of the connector the message came through, or a
//     list of names of which it must be one.
//   - header: a mapping of header names to a value, or a list of values of
//     which the header must have one. Header names are matched ignoring
//     case (a file may not name one header twice in one mapping); values
//     are compared exactly. A message without the header fails the
//     condition. A value may be written unquoted (X-Count: 1 means "1").
//   - field: a mapping of JSON paths to a value (equals) or to a mapping
//     of operators to operands, all of which must hold.
//   - any: a non-empty list of condition mappings of which at least one
//     must hold.
//   - not: a condition mapping that must not hold.
//
// Lists of values (connector, header, in) hold 1..MaxValues values.
// Conditions nest at most MaxDepth deep (`when` is depth 1, each `any`
// alternative and each `not` one more), and a rule has at most
// MaxConditions conditions in all: each connector, each header, each
// operator of a field (a bare value is one eq), each any and each not
// count one.
//
// # Paths
//
// A path starts with $ (the payload, which is a JSON object) and has
// 1..MaxPathSteps steps: .name (letters, digits, _ and -), ["any name"]
// (a JSON string, for names with other characters) and [N] (an index into
// an array, from 0). $.items[0].sku is the sku of the first item. In a
// YAML flow mapping ({...}) a path with brackets must be quoted.
//
// # Operators
//
//	eq: V        the value equals V (a string, number, true, false or null)
//	ne: V        the value is of V's kind and differs from V
//	in: [V...]   the value equals one of the values
//	prefix: S    the value is a string starting with S
//	suffix: S    the value is a string ending with S
//	contains: V  the value is a string containing the string V, or an array with an element equal to V
//	gt, ge, lt, le: V   the value is greater (or equal), less (or equal) than V: both numbers, or both strings (compared byte by byte)
//	exists: B    the path exists in the payload (true), or does not (false); a null value exists
//
// A path that does not exist makes every comparison false, and exists:
// false true. A comparison between values of different JSON kinds is
// false, never an error: {ne: "x"} does not hold for a number (write
// not: {field: {$.a: "x"}} for "anything but x"), and {gt: 100} does not
// hold for the string "200". An object or an array equals nothing.
//
// Numbers, in the payload and in the rules, compare as float64: the
// payload's number text is read with strconv.ParseFloat (a number too
// large for a float64 reads as ±Inf), so integers above 2^53 may compare
// equal to their neighbours. An operand must be a finite number. A value
// written as a number in the rules (100) matches JSON numbers only;
// quote it ("100") to match a JSON string. A YAML date (2024-01-01) is a
// string.
//
// # Evaluation
//
// Rules are tried in order; within a condition mapping the conditions are
// tried connector first, then header, field (in file order), any and not,
// and trying stops at the first that fails (any stops at the first
// alternative that holds). The payload is parsed the first time a field
// condition is tried, and at most once per message: a message whose
// rules are decided by connectors and headers is routed whatever its
// payload holds. A nil or empty payload has no fields. When a field
// condition is tried on a payload that is over MaxPayloadSize or is not
// a JSON object, routing stops: the result has no keys, and its Reason
// says why. A JSON object naming a key twice keeps the last value.
//
// The keys of the result are those of the matching rules, in rule order,
// each once. When no rule matched, the result holds the default key
// (Result.Default), or no keys and the reason "no rule matched".
package route
