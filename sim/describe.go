package sim

import (
	"strconv"

	"github.com/flashsale/flashsale/domain"
)

// describe formats a port call for the trace as fmt.Sprintf would, for the
// verbs and types the port wrappers use: %s of a string or an ID, %d of an
// int or int64. It exists so that the wrappers' arguments do not escape:
// fmt keeps what it is given, which would box every argument of every
// call on the heap, traced or not. Anything else is shown as fmt shows a
// wrong verb: %!d(...), naming no value.
func describe(format string, args []any) string {
	b := make([]byte, 0, len(format)+32)
	n := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+1 == len(format) {
			b = append(b, "%!(NOVERB)"...)
			continue
		}
		i++
		verb := format[i]
		if verb == '%' {
			b = append(b, '%')
			continue
		}
		if n == len(args) {
			b = append(b, "%!"...)
			b = append(b, verb)
			b = append(b, "(MISSING)"...)
			continue
		}
		arg := args[n]
		n++
		if s, ok := describedString(arg); ok && verb == 's' {
			b = append(b, s...)
			continue
		}
		if v, ok := describedInt(arg); ok && verb == 'd' {
			b = strconv.AppendInt(b, v, 10)
			continue
		}
		b = append(b, "%!"...)
		b = append(b, verb)
		b = append(b, "(unsupported)"...)
	}
	return string(b)
}

func describedString(arg any) (string, bool) {
	switch v := arg.(type) {
	case string:
		return v, true
	case domain.SagaID:
		return string(v), true
	case domain.ProductID:
		return string(v), true
	case domain.OrderID:
		return string(v), true
	case domain.SagaStatus:
		return string(v), true
	}
	return "", false
}

func describedInt(arg any) (int64, bool) {
	switch v := arg.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}
