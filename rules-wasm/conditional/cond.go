package main

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// fieldKind is what a field path reads from the request.
type fieldKind uint8

const (
	fModel fieldKind = iota
	fEndpoint
	fKey
	fUser
	fMetadata // name: the metadata key
	fHeader   // name: the lowercased header name
	fPriority
	fPromptTokens
	fMaxTokens
	fMessages
	fChars
	fStream
	fHasTools
	fHasImages
	fJSONMode
	fTags
)

// class is the type of a field, which decides the operators it takes.
type class uint8

const (
	cString class = iota // strings; metadata and headers compare with numbers and booleans too
	cNumber
	cBool
	cList // tags
)

type field struct {
	kind fieldKind
	name string
	path string
}

func (f *field) class() class {
	switch {
	case f.kind <= fHeader:
		return cString
	case f.kind <= fChars:
		return cNumber
	case f.kind <= fJSONMode:
		return cBool
	}
	return cList
}

var fieldNames = map[string]fieldKind{
	"model": fModel, "endpoint": fEndpoint, "key": fKey, "user": fUser,
	"priority": fPriority, "prompt_tokens_estimate": fPromptTokens, "max_tokens": fMaxTokens,
	"messages": fMessages, "chars": fChars,
	"stream": fStream, "has_tools": fHasTools, "has_images": fHasImages, "json_mode": fJSONMode,
	"tags": fTags,
}

func parseField(path string) (field, error) {
	if k, ok := fieldNames[path]; ok {
		return field{kind: k, path: path}, nil
	}
	if name, ok := strings.CutPrefix(path, "metadata."); ok && name != "" {
		return field{kind: fMetadata, name: name, path: path}, nil
	}
	if name, ok := strings.CutPrefix(path, "headers."); ok && name != "" {
		return field{kind: fHeader, name: strings.ToLower(name), path: path}, nil
	}
	return field{}, errors.New("unknown field " + strconv.Quote(path) + " (see README.md for the field paths)")
}

// litKind is the JSON type of a literal operand.
type litKind uint8

const (
	lString litKind = iota
	lNumber
	lBool
	lNull
)

type literal struct {
	kind litKind
	s    string
	n    float64
	b    bool
}

type op uint8

const (
	opAnd op = iota
	opOr
	opNot
	opEq
	opNe
	opIn
	opNin
	opGt
	opGte
	opLt
	opLte
	opRegex
	opExists
)

var opNames = map[string]op{
	"$eq": opEq, "$ne": opNe, "$in": opIn, "$nin": opNin, "$gt": opGt, "$gte": opGte,
	"$lt": opLt, "$lte": opLte, "$regex": opRegex, "$exists": opExists,
}

// node is a compiled condition: a combination of nodes (and, or, not) or
// one operator applied to one field.
type node struct {
	op   op
	kids []node
	f    field
	lit  literal   // eq, ne, gt, gte, lt, lte
	list []literal // in, nin
	re   *regexp.Regexp
	b    bool // exists
}

const maxNodes = 256

// compiler turns the config's condition objects into nodes.
type compiler struct{ nodes int }

func (c *compiler) fail(where, msg string) error { return errors.New(where + ": " + msg) }

// cond compiles a condition object; several members are all required.
func (c *compiler) cond(v rule.Value, where string) (node, error) {
	if v.Kind() != rule.Object {
		return node{}, c.fail(where, "a condition must be an object")
	}
	var all []node
	keys := v.Keys()
	for i, k := range keys {
		if slices.Contains(keys[:i], k) {
			return node{}, c.fail(where, strconv.Quote(k)+" is repeated (use $and)")
		}
		n, err := c.member(k, v.Get(k), where+"."+k)
		if err != nil {
			return node{}, err
		}
		all = append(all, n)
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return node{op: opAnd, kids: all}, nil // an empty object is always true
}

func (c *compiler) member(k string, v rule.Value, where string) (node, error) {
	if c.nodes++; c.nodes > maxNodes {
		return node{}, c.fail(where, "condition too large (more than 256 terms)")
	}
	switch k {
	case "$and", "$or":
		if v.Kind() != rule.Array || v.Len() == 0 {
			return node{}, c.fail(where, k+" takes a non-empty array of conditions")
		}
		n := node{op: opAnd}
		if k == "$or" {
			n.op = opOr
		}
		for i := range v.Len() {
			kid, err := c.cond(v.Index(i), where+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return node{}, err
			}
			n.kids = append(n.kids, kid)
		}
		return n, nil
	case "$not":
		kid, err := c.cond(v, where)
		if err != nil {
			return node{}, err
		}
		return node{op: opNot, kids: []node{kid}}, nil
	}
	if strings.HasPrefix(k, "$") {
		return node{}, c.fail(where, "unknown operator "+strconv.Quote(k)+" (a field path or $and, $or, $not expected here)")
	}
	f, err := parseField(k)
	if err != nil {
		return node{}, c.fail(where, err.Error())
	}
	if v.Kind() != rule.Object {
		// Shorthand: {"metadata.tier": "free"} is {"metadata.tier": {"$eq": "free"}}.
		return c.operator(f, "$eq", v, where)
	}
	if v.Len() == 0 {
		return node{}, c.fail(where, "no operator")
	}
	var all []node
	ops := v.Keys()
	for i, o := range ops {
		if slices.Contains(ops[:i], o) {
			return node{}, c.fail(where, strconv.Quote(o)+" is repeated")
		}
		n, err := c.operator(f, o, v.Get(o), where+"."+o)
		if err != nil {
			return node{}, err
		}
		all = append(all, n)
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return node{op: opAnd, kids: all}, nil
}

func (c *compiler) operator(f field, name string, v rule.Value, where string) (node, error) {
	o, ok := opNames[name]
	if !ok {
		return node{}, c.fail(where, "unknown operator "+strconv.Quote(name)+
			" (want $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $regex or $exists)")
	}
	n := node{op: o, f: f}
	cl := f.class()
	switch o {
	case opEq, opNe:
		l, err := c.literal(f, v, where)
		if err != nil {
			return node{}, err
		}
		n.lit = l
	case opIn, opNin:
		if v.Kind() != rule.Array {
			return node{}, c.fail(where, name+" takes an array")
		}
		for i := range v.Len() {
			l, err := c.literal(f, v.Index(i), where+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return node{}, err
			}
			n.list = append(n.list, l)
		}
	case opGt, opGte, opLt, opLte:
		if cl == cBool || cl == cList {
			return node{}, c.fail(where, name+" does not apply to "+f.path)
		}
		if v.Kind() != rule.Number {
			return node{}, c.fail(where, name+" takes a number")
		}
		n.lit = literal{kind: lNumber, n: v.Float(0)}
	case opRegex:
		if cl != cString && cl != cList {
			return node{}, c.fail(where, "$regex applies to strings, not to "+f.path)
		}
		if v.Kind() != rule.String {
			return node{}, c.fail(where, "$regex takes a string")
		}
		re, err := regexp.Compile(v.String(""))
		if err != nil {
			return node{}, c.fail(where, "bad $regex: "+err.Error())
		}
		n.re = re
	case opExists:
		if v.Kind() != rule.Bool {
			return node{}, c.fail(where, "$exists takes true or false")
		}
		n.b = v.Bool(false)
	}
	return n, nil
}

// literal reads an operand of $eq, $ne, $in or $nin, checked against the
// field's type.
func (c *compiler) literal(f field, v rule.Value, where string) (literal, error) {
	var l literal
	switch v.Kind() {
	case rule.String:
		l = literal{kind: lString, s: v.String("")}
	case rule.Number:
		l = literal{kind: lNumber, n: v.Float(0)}
	case rule.Bool:
		l = literal{kind: lBool, b: v.Bool(false)}
	case rule.Null:
		l = literal{kind: lNull}
	default:
		return l, c.fail(where, "operand must be a string, number, boolean or null (use $in for lists)")
	}
	switch cl := f.class(); {
	case cl == cNumber && l.kind != lNumber:
		return l, c.fail(where, f.path+" is a number")
	case cl == cBool && l.kind != lBool:
		return l, c.fail(where, f.path+" is true or false")
	case cl == cList && l.kind != lString:
		return l, c.fail(where, "tags are strings")
	case cl == cString && f.kind != fMetadata && f.kind != fHeader && l.kind != lString && l.kind != lNull:
		return l, c.fail(where, f.path+" is a string")
	}
	return l, nil
}

// eval reports whether the request matches n. It does not allocate.
func eval(n *node, r *rule.Request) bool {
	switch n.op {
	case opAnd:
		for i := range n.kids {
			if !eval(&n.kids[i], r) {
				return false
			}
		}
		return true
	case opOr:
		for i := range n.kids {
			if eval(&n.kids[i], r) {
				return true
			}
		}
		return false
	case opNot:
		return !eval(&n.kids[0], r)
	}
	switch n.f.class() {
	case cNumber:
		return evalNumber(n, number(&n.f, r))
	case cBool:
		return evalBool(n, boolean(&n.f, r))
	case cList:
		return evalTags(n, r.Tags)
	}
	s, ok := str(&n.f, r)
	return evalString(n, s, ok)
}

func str(f *field, r *rule.Request) (string, bool) {
	switch f.kind {
	case fModel:
		return r.Model, r.Model != ""
	case fEndpoint:
		return r.Endpoint, r.Endpoint != ""
	case fKey:
		return r.Key, r.Key != ""
	case fUser:
		return r.User, r.User != ""
	case fMetadata:
		s, ok := r.Metadata[f.name]
		return s, ok
	}
	s, ok := r.Headers[f.name]
	return s, ok
}

func number(f *field, r *rule.Request) float64 {
	switch f.kind {
	case fPriority:
		return float64(r.Priority)
	case fPromptTokens:
		return float64(r.PromptTokensEstimate)
	case fMaxTokens:
		return float64(r.MaxTokens)
	case fMessages:
		return float64(r.Messages)
	}
	return float64(r.Chars)
}

func boolean(f *field, r *rule.Request) bool {
	switch f.kind {
	case fStream:
		return r.Stream
	case fHasTools:
		return r.HasTools
	case fHasImages:
		return r.HasImages
	}
	return r.JSONMode
}

func evalNumber(n *node, x float64) bool {
	switch n.op {
	case opEq:
		return x == n.lit.n
	case opNe:
		return x != n.lit.n
	case opIn, opNin:
		in := false
		for i := range n.list {
			if n.list[i].n == x {
				in = true
				break
			}
		}
		return in == (n.op == opIn)
	case opExists:
		return (x != 0) == n.b
	}
	return compare(n.op, x, n.lit.n)
}

func evalBool(n *node, x bool) bool {
	switch n.op {
	case opEq:
		return x == n.lit.b
	case opNe:
		return x != n.lit.b
	case opIn, opNin:
		in := false
		for i := range n.list {
			if n.list[i].b == x {
				in = true
				break
			}
		}
		return in == (n.op == opIn)
	}
	return n.b // $exists: a flag is always there
}

func evalTags(n *node, tags []string) bool {
	switch n.op {
	case opEq, opNe:
		return hasTag(tags, n.lit.s) == (n.op == opEq)
	case opIn, opNin:
		in := false
		for i := range n.list {
			if hasTag(tags, n.list[i].s) {
				in = true
				break
			}
		}
		return in == (n.op == opIn)
	case opRegex:
		for _, t := range tags {
			if n.re.MatchString(t) {
				return true
			}
		}
		return false
	}
	return (len(tags) > 0) == n.b // $exists
}

func hasTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

// evalString applies n to a string field; ok is false when it is missing.
// Metadata values that are not JSON strings arrive as their JSON text, so
// number and boolean operands compare with that text.
func evalString(n *node, s string, ok bool) bool {
	switch n.op {
	case opEq:
		return equal(&n.lit, s, ok)
	case opNe:
		return !equal(&n.lit, s, ok)
	case opIn, opNin:
		in := false
		for i := range n.list {
			if equal(&n.list[i], s, ok) {
				in = true
				break
			}
		}
		return in == (n.op == opIn)
	case opRegex:
		return ok && n.re.MatchString(s)
	case opExists:
		return ok == n.b
	}
	x, isNum := parseNumber(s)
	return ok && isNum && compare(n.op, x, n.lit.n)
}

func equal(l *literal, s string, ok bool) bool {
	switch l.kind {
	case lNull:
		return !ok || s == "null"
	case lString:
		return ok && s == l.s
	case lNumber:
		x, isNum := parseNumber(s)
		return ok && isNum && x == l.n
	}
	return ok && (l.b && s == "true" || !l.b && s == "false")
}

func compare(o op, x, y float64) bool {
	switch o {
	case opGt:
		return x > y
	case opGte:
		return x >= y
	case opLt:
		return x < y
	}
	return x <= y
}

// parseNumber reads a JSON number; it does not allocate for text that is
// plainly not one.
func parseNumber(s string) (float64, bool) {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	return x, err == nil
}
