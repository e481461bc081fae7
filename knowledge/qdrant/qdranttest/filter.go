package qdranttest

import (
	"fmt"
	"strings"

	qc "github.com/qdrant/go-client/qdrant"
)

// checkFilter rejects a filter Qdrant would refuse while converting or
// validating the request. path names the filter in errors, as Qdrant's
// validator does.
func checkFilter(f *qc.Filter, path string) error {
	if f == nil {
		return nil
	}
	lists := []struct {
		name  string
		conds []*qc.Condition
	}{{"should", f.Should}, {"must", f.Must}, {"must_not", f.MustNot}, {"min_should.conditions", f.GetMinShould().GetConditions()}}
	for _, l := range lists {
		for i, c := range l.conds {
			if err := checkCondition(c, fmt.Sprintf("%s.%s[%d]", path, l.name, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkCondition(c *qc.Condition, path string) error {
	switch x := c.GetConditionOneOf().(type) {
	case *qc.Condition_Field:
		fc := x.Field
		if fc.Match == nil && fc.Range == nil && fc.GeoBoundingBox == nil && fc.GeoRadius == nil &&
			fc.GeoPolygon == nil && fc.ValuesCount == nil && fc.DatetimeRange == nil && fc.IsEmpty == nil && fc.IsNull == nil {
			return errFieldCondition(path + ".match")
		}
		if fc.Match != nil {
			switch fc.Match.GetMatchValue().(type) {
			case nil:
				return errMalformedMatch
			case *qc.Match_Phrase, *qc.Match_TextAny:
				return errNotModelled("phrase and text_any matches (full-text indexes)")
			}
		}
		if fc.GeoBoundingBox != nil || fc.GeoRadius != nil || fc.GeoPolygon != nil {
			return errNotModelled("geo conditions")
		}
		if fc.ValuesCount != nil || fc.DatetimeRange != nil {
			return errNotModelled("values_count and datetime_range conditions")
		}
	case *qc.Condition_HasId:
		for _, id := range x.HasId.GetHasId() {
			if _, err := keyOf(id); err != nil {
				return err
			}
		}
	case *qc.Condition_Filter:
		return checkFilter(x.Filter, path+".filter")
	case *qc.Condition_Nested:
		if x.Nested.GetFilter() == nil {
			return errNestedNeedFilter
		}
		return errNotModelled("nested conditions")
	case *qc.Condition_IsEmpty, *qc.Condition_IsNull, *qc.Condition_HasVector:
	case nil:
		return errMalformedCond
	default:
		return errNotModelled(fmt.Sprintf("condition %T", x))
	}
	return nil
}

// matches reports whether p passes f (checked by checkFilter): all of
// must, none of must_not, one of should when there is any, and at least
// min_count of min_should.
func matches(f *qc.Filter, p *point) bool {
	if f == nil {
		return true
	}
	for _, c := range f.Must {
		if !holds(c, p) {
			return false
		}
	}
	for _, c := range f.MustNot {
		if holds(c, p) {
			return false
		}
	}
	if len(f.Should) > 0 {
		one := false
		for _, c := range f.Should {
			if holds(c, p) {
				one = true
				break
			}
		}
		if !one {
			return false
		}
	}
	if ms := f.GetMinShould(); ms != nil {
		n := uint64(0)
		for _, c := range ms.GetConditions() {
			if holds(c, p) {
				n++
			}
		}
		if n < ms.GetMinCount() {
			return false
		}
	}
	return true
}

func holds(c *qc.Condition, p *point) bool {
	switch x := c.GetConditionOneOf().(type) {
	case *qc.Condition_Field:
		return fieldHolds(x.Field, p)
	case *qc.Condition_IsEmpty:
		return isEmpty(p, x.IsEmpty.GetKey())
	case *qc.Condition_IsNull:
		return isNull(p, x.IsNull.GetKey())
	case *qc.Condition_HasId:
		for _, id := range x.HasId.GetHasId() {
			if k, _ := keyOf(id); k == p.key {
				return true
			}
		}
		return false
	case *qc.Condition_Filter:
		return matches(x.Filter, p)
	case *qc.Condition_HasVector:
		name := x.HasVector.GetHasVector()
		_, dense := p.dense[name]
		_, sparse := p.sparse[name]
		return dense || sparse
	}
	return false
}

// fieldHolds applies every condition set in fc. A field holding an array
// matches when one of its elements does, as in Qdrant.
func fieldHolds(fc *qc.FieldCondition, p *point) bool {
	vs := values(p.payload, fc.Key)
	if fc.Match != nil && !matchHolds(fc.Match, vs) {
		return false
	}
	if r := fc.Range; r != nil {
		ok := false
		for _, v := range vs {
			var x float64
			switch k := v.GetKind().(type) {
			case *qc.Value_IntegerValue:
				x = float64(k.IntegerValue)
			case *qc.Value_DoubleValue:
				x = k.DoubleValue
			default:
				continue
			}
			if (r.Lt == nil || x < *r.Lt) && (r.Lte == nil || x <= *r.Lte) &&
				(r.Gt == nil || x > *r.Gt) && (r.Gte == nil || x >= *r.Gte) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if fc.IsEmpty != nil && isEmpty(p, fc.Key) != *fc.IsEmpty {
		return false
	}
	if fc.IsNull != nil && isNull(p, fc.Key) != *fc.IsNull {
		return false
	}
	return true
}

func matchHolds(m *qc.Match, vs []*qc.Value) bool {
	anyValue := func(f func(*qc.Value) bool) bool {
		for _, v := range vs {
			if f(v) {
				return true
			}
		}
		return false
	}
	isString := func(set []string) func(*qc.Value) bool {
		return func(v *qc.Value) bool {
			s, ok := v.GetKind().(*qc.Value_StringValue)
			if !ok {
				return false
			}
			for _, x := range set {
				if s.StringValue == x {
					return true
				}
			}
			return false
		}
	}
	isInt := func(set []int64) func(*qc.Value) bool {
		return func(v *qc.Value) bool {
			i, ok := v.GetKind().(*qc.Value_IntegerValue)
			if !ok {
				return false
			}
			for _, x := range set {
				if i.IntegerValue == x {
					return true
				}
			}
			return false
		}
	}
	switch x := m.GetMatchValue().(type) {
	case *qc.Match_Keyword:
		return anyValue(isString([]string{x.Keyword}))
	case *qc.Match_Keywords:
		return anyValue(isString(x.Keywords.GetStrings()))
	case *qc.Match_Integer:
		return anyValue(isInt([]int64{x.Integer}))
	case *qc.Match_Integers:
		return anyValue(isInt(x.Integers.GetIntegers()))
	case *qc.Match_Boolean:
		return anyValue(func(v *qc.Value) bool {
			b, ok := v.GetKind().(*qc.Value_BoolValue)
			return ok && b.BoolValue == x.Boolean
		})
	case *qc.Match_Text:
		// Without a full-text index Qdrant matches a substring.
		return anyValue(func(v *qc.Value) bool {
			s, ok := v.GetKind().(*qc.Value_StringValue)
			return ok && strings.Contains(s.StringValue, x.Text)
		})
	case *qc.Match_ExceptKeywords:
		return !anyValue(isString(x.ExceptKeywords.GetStrings()))
	case *qc.Match_ExceptIntegers:
		return !anyValue(isInt(x.ExceptIntegers.GetIntegers()))
	}
	return false
}

// values are the payload values at a key path ("a.b", "a[].b"), arrays
// flattened.
func values(payload map[string]*qc.Value, key string) []*qc.Value {
	parts := strings.Split(strings.ReplaceAll(key, "[]", ""), ".")
	cur := []*qc.Value{{Kind: &qc.Value_StructValue{StructValue: &qc.Struct{Fields: payload}}}}
	for _, part := range parts {
		var next []*qc.Value
		for _, v := range cur {
			for _, e := range flatten(v) {
				if f, ok := e.GetStructValue().GetFields()[part]; ok {
					next = append(next, f)
				}
			}
		}
		cur = next
	}
	var out []*qc.Value
	for _, v := range cur {
		out = append(out, flatten(v)...)
	}
	return out
}

func flatten(v *qc.Value) []*qc.Value {
	if l, ok := v.GetKind().(*qc.Value_ListValue); ok {
		var out []*qc.Value
		for _, e := range l.ListValue.GetValues() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []*qc.Value{v}
}

// isEmpty: the field is missing, null or an empty array.
func isEmpty(p *point, key string) bool {
	for _, v := range values(p.payload, key) {
		if _, null := v.GetKind().(*qc.Value_NullValue); !null {
			return false
		}
	}
	return true
}

// isNull: the field is there and null.
func isNull(p *point, key string) bool {
	for _, v := range values(p.payload, key) {
		if _, null := v.GetKind().(*qc.Value_NullValue); null {
			return true
		}
	}
	return false
}
