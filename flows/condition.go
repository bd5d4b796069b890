package flows

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
)

// CondOp is a condition operator.
type CondOp string

// Condition operators.
const (
	OpEq  CondOp = "eq"  // Path's value equals Value
	OpIn  CondOp = "in"  // Path's value equals one of Values
	OpGt  CondOp = "gt"  // Path's value > Value (numbers, or strings lexically)
	OpLt  CondOp = "lt"  // Path's value < Value
	OpAnd CondOp = "and" // every one of Exprs holds (true when empty)
	OpOr  CondOp = "or"  // one of Exprs holds (false when empty)
	OpNot CondOp = "not" // Expr does not hold
)

// Condition is a Meerkat ConditionExpr, tagged by Op. Path is a reference
// path (the same as inside a template: params.<path>,
// steps.<id>[.output].<path>, loops.<loop>.iterations.<n>.steps.<id>.<path>);
// Value and Values are canonical JSON.
//
// A path that cannot be followed (the step has not produced output, a field
// is missing, an index lands on a scalar) makes a comparison false, as in
// Meerkat, so not(eq …) of such a path is true.
type Condition struct {
	Op     CondOp
	Path   string
	Value  json.RawMessage
	Values []json.RawMessage
	Exprs  []Condition
	Expr   *Condition
}

// Eq builds {"op":"eq","path":path,"value":value}. It panics if value cannot
// be encoded as JSON (like regexp.MustCompile, it is for literals).
func Eq(path string, value any) Condition {
	return Condition{Op: OpEq, Path: path, Value: mustRaw(value)}
}

// In builds {"op":"in","path":path,"values":values}; it panics if a value
// cannot be encoded as JSON.
func In(path string, values ...any) Condition {
	raws := make([]json.RawMessage, len(values))
	for i, v := range values {
		raws[i] = mustRaw(v)
	}
	return Condition{Op: OpIn, Path: path, Values: raws}
}

// Gt builds {"op":"gt","path":path,"value":value}.
func Gt(path string, value any) Condition {
	return Condition{Op: OpGt, Path: path, Value: mustRaw(value)}
}

// Lt builds {"op":"lt","path":path,"value":value}.
func Lt(path string, value any) Condition {
	return Condition{Op: OpLt, Path: path, Value: mustRaw(value)}
}

// And builds {"op":"and","exprs":exprs}.
func And(exprs ...Condition) Condition {
	if exprs == nil {
		exprs = []Condition{}
	}
	return Condition{Op: OpAnd, Exprs: exprs}
}

// Or builds {"op":"or","exprs":exprs}.
func Or(exprs ...Condition) Condition {
	if exprs == nil {
		exprs = []Condition{}
	}
	return Condition{Op: OpOr, Exprs: exprs}
}

// Not builds {"op":"not","expr":expr}.
func Not(expr Condition) Condition { return Condition{Op: OpNot, Expr: &expr} }

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("flows: condition value %v: %v", v, err))
	}
	c, err := canonicalJSON(b)
	if err != nil {
		panic(fmt.Sprintf("flows: condition value %v: %v", v, err))
	}
	return c
}

// Eval evaluates c against sc. The error is a *PathError for a malformed
// path, or a plain error for a malformed condition (both are rejected when a
// definition is loaded, so a loaded condition only fails on a bad scope
// value).
func (c Condition) Eval(sc Scope) (bool, error) {
	switch c.Op {
	case OpEq, OpGt, OpLt:
		got, ok, err := c.operand(sc)
		if err != nil || !ok {
			return false, err
		}
		want, err := decodeJSONValue(c.Value)
		if err != nil {
			return false, fmt.Errorf("flows: condition %s value: %w", c.Op, err)
		}
		switch c.Op {
		case OpEq:
			return jsonEqual(got, want), nil
		case OpGt:
			o, ok := compare(got, want)
			return ok && o > 0, nil
		default:
			o, ok := compare(got, want)
			return ok && o < 0, nil
		}
	case OpIn:
		got, ok, err := c.operand(sc)
		if err != nil || !ok {
			return false, err
		}
		for _, r := range c.Values {
			want, err := decodeJSONValue(r)
			if err != nil {
				return false, fmt.Errorf("flows: condition in value: %w", err)
			}
			if jsonEqual(got, want) {
				return true, nil
			}
		}
		return false, nil
	case OpAnd, OpOr:
		for i := range c.Exprs {
			v, err := c.Exprs[i].Eval(sc)
			if err != nil {
				return false, err
			}
			if c.Op == OpAnd && !v {
				return false, nil
			}
			if c.Op == OpOr && v {
				return true, nil
			}
		}
		return c.Op == OpAnd, nil
	case OpNot:
		if c.Expr == nil {
			return false, fmt.Errorf("flows: condition not: missing expr")
		}
		v, err := c.Expr.Eval(sc)
		return !v && err == nil, err
	}
	return false, fmt.Errorf("flows: unknown condition op %q", c.Op)
}

// operand resolves the condition's path; ok is false when it cannot be
// followed (treated as a false comparison).
func (c Condition) operand(sc Scope) (any, bool, error) {
	p, err := parsePath(c.Path)
	if err != nil {
		return nil, false, err
	}
	v, produced, err := p.resolve(sc)
	if err != nil {
		if pe, ok := err.(*PathError); ok && !pe.badScope {
			return nil, false, nil // unresolvable: the comparison is false
		}
		return nil, false, err
	}
	return v, produced, nil
}

// jsonEqual compares JSON-shaped values, numbers by value.
func jsonEqual(a, b any) bool {
	if na, ok := number(a); ok {
		nb, ok := number(b)
		return ok && na.Cmp(nb) == 0
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// compare orders two numbers, or two strings; ok is false otherwise.
func compare(a, b any) (int, bool) {
	if na, ok := number(a); ok {
		if nb, ok := number(b); ok {
			return na.Cmp(nb), true
		}
		return 0, false
	}
	sa, ok1 := a.(string)
	sb, ok2 := b.(string)
	if ok1 && ok2 {
		switch {
		case sa < sb:
			return -1, true
		case sa > sb:
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// number converts a JSON number to a rational: exact for integer literals
// (as Meerkat compares integers exactly beyond float64 precision), through
// float64 otherwise.
func number(x any) (*big.Rat, bool) {
	switch n := x.(type) {
	case json.Number:
		s := n.String()
		if !strings.ContainsAny(s, ".eE") && len(s) <= 400 {
			if i, ok := new(big.Int).SetString(s, 10); ok {
				return new(big.Rat).SetInt(i), true
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, false
		}
		return floatRat(f)
	case float64:
		return floatRat(n)
	case int:
		return new(big.Rat).SetInt64(int64(n)), true
	case int64:
		return new(big.Rat).SetInt64(n), true
	}
	return nil, false
}

func floatRat(f float64) (*big.Rat, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	return new(big.Rat).SetFloat64(f), true
}
