package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/domain"
)

// bodyKey is where readBody leaves the request body in the gin context.
const bodyKey = "httpapi.body"

// readBody reads the whole request body, at most MaxBodyBytes of
// application/json, before the request takes an in-flight slot (shed runs
// after it): a client that trickles its body holds a connection and a
// goroutine until the server's read timeout, never a slot another
// client's request needs. A body that does not arrive in time is 408. The
// bodies being read at once are capped too (Options.MaxReadingBodies), so
// the memory slow clients hold is bounded.
func (s *server) readBody(c *gin.Context) {
	if !isJSON(c.GetHeader("Content-Type")) {
		writeProblem(c, s.log, badRequest(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"))
		return
	}
	if s.reading != nil {
		select {
		case s.reading <- struct{}{}:
		default:
			c.Header("Connection", "close")
			sendOverloaded(c)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes))
	if s.reading != nil {
		<-s.reading
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.Header("Connection", "close")
			writeProblem(c, s.log, badRequest(http.StatusRequestTimeout, "request_timeout", "the body did not arrive within the server's read timeout"))
			return
		}
		writeProblem(c, s.log, decodeError(err))
		return
	}
	c.Set(bodyKey, body)
	c.Next()
}

// isJSON reports whether a Content-Type names application/json, with any
// parameters. The usual spellings are recognised without parsing (a
// crowd sends the same header each time; the parser allocates).
func isJSON(contentType string) bool {
	switch contentType {
	case "application/json", "application/json; charset=utf-8":
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// decodeJSON decodes the body readBody read into dst: exactly one JSON
// object with no unknown, duplicate or differently cased member, no wrong
// types and no trailing data.
func decodeJSON(c *gin.Context, dst any) error {
	body, _ := c.Get(bodyKey)
	raw, _ := body.([]byte)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(http.StatusBadRequest, "invalid_request", "the body must hold exactly one JSON object")
	}
	return strictMembers(raw, memberNames(reflect.TypeOf(dst).Elem()))
}

// strictMembers refuses what encoding/json lets through although the
// schema (additionalProperties: false) does not: a member named in
// another case than the schema's ("PRODUCTID"), and a member given twice
// ("qty":1,"qty":2, of which encoding/json keeps the last). body is one
// JSON object that decoded without error; only its own members are
// checked, since no request body nests an object. The scan allocates
// nothing unless a name holds an escape.
func strictMembers(body []byte, names []string) error {
	var seen uint64 // bit i: names[i] was given
	depth := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			end := stringEnd(body, i)
			if depth == 1 && followedByColon(body, end+1) {
				name := body[i+1 : end]
				if bytes.IndexByte(name, '\\') >= 0 {
					var unquoted string
					_ = json.Unmarshal(body[i:end+1], &unquoted) // valid JSON: cannot fail
					name = []byte(unquoted)
				}
				k := slices.IndexFunc(names, func(n string) bool { return n == string(name) })
				switch {
				case k < 0:
					return badRequest(http.StatusBadRequest, "invalid_request", "unknown field "+strconv.Quote(string(name)))
				case seen&(1<<k) != 0:
					return badRequest(http.StatusBadRequest, "invalid_request", "duplicate field "+strconv.Quote(string(name)))
				}
				seen |= 1 << k
			}
			i = end
		}
	}
	return nil
}

// stringEnd is the index of the quote closing the JSON string that opens
// at body[start].
func stringEnd(body []byte, start int) int {
	for i := start + 1; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(body) - 1
}

// followedByColon reports whether the next character from body[i] on that
// is not JSON whitespace is a colon: the string before it was a name.
func followedByColon(body []byte, i int) bool {
	for ; i < len(body); i++ {
		switch body[i] {
		case ' ', '\t', '\n', '\r':
		case ':':
			return true
		default:
			return false
		}
	}
	return false
}

// members caches memberNames per request body type.
var members sync.Map // reflect.Type -> []string

// memberNames lists the JSON member names of the struct type t, as its
// json tags spell them.
func memberNames(t reflect.Type) []string {
	if v, ok := members.Load(t); ok {
		return v.([]string)
	}
	var names []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	members.Store(t, names)
	return names
}

func decodeError(err error) error {
	var (
		mbe  *http.MaxBytesError
		se   *json.SyntaxError
		ute  *json.UnmarshalTypeError
		ve   *domain.ValidationError
		rerr *requestError
	)
	switch {
	case errors.As(err, &mbe):
		return badRequest(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body must be at most %d bytes", mbe.Limit))
	case errors.As(err, &rerr):
		return err
	case errors.As(err, &ve):
		return badRequest(http.StatusBadRequest, "invalid_request", ve.Error())
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
	case errors.Is(err, io.EOF):
		return badRequest(http.StatusBadRequest, "malformed_json", "the body is empty")
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			return badRequest(http.StatusBadRequest, "invalid_request", "the body must be a JSON object")
		}
		return badRequest(http.StatusBadRequest, "invalid_request", fmt.Sprintf("%s: must be %s", field, kindName(ute.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest(http.StatusBadRequest, "invalid_request", "unknown field "+strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
}

func kindName(k string) string {
	switch k {
	case "int64", "int":
		return "an integer within range"
	case "string":
		return "a string"
	}
	return "of another type"
}

// parseID reads an ID given as a JSON string or, as the seed's clients send
// it, a non-negative JSON integer ({"productId": 123}). raw is nil when the
// member is absent.
func parseID(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", domain.Invalid(field, "is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", domain.Invalid(field, "must be a string or a non-negative integer")
		}
		return s, nil
	}
	if len(raw) > domain.MaxIDLength {
		return "", domain.Invalid(field, "must be at most %d characters", domain.MaxIDLength)
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return "", domain.Invalid(field, "must be a string or a non-negative integer")
		}
	}
	return string(raw), nil
}

type purchaseBody struct {
	ProductID json.RawMessage `json:"productId"`
	Qty       *int64          `json:"qty"`
}

func (b purchaseBody) request() (domain.PurchaseRequest, error) {
	id, err := parseID("productId", b.ProductID)
	if err != nil {
		return domain.PurchaseRequest{}, err
	}
	if b.Qty == nil {
		return domain.PurchaseRequest{}, domain.Invalid("qty", "is required")
	}
	return domain.PurchaseRequest{ProductID: domain.ProductID(id), Qty: *b.Qty}, nil
}

type supplyBody struct {
	ID         json.RawMessage `json:"id"`
	Name       string          `json:"name"`
	PriceMinor int64           `json:"priceMinor"`
	AddStock   int64           `json:"addStock"`
}

func (b supplyBody) supply() (domain.Supply, error) {
	id, err := parseID("id", b.ID)
	if err != nil {
		return domain.Supply{}, err
	}
	s := domain.Supply{ID: domain.ProductID(id), Name: b.Name, PriceMinor: b.PriceMinor, AddStock: b.AddStock}
	return s, s.Validate()
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// idempotencyKey is the request's Idempotency-Key: empty when there is
// none, an error when there are several (which one would the client mean?)
// or the one given is malformed.
func idempotencyKey(h http.Header) (string, error) {
	keys := h.Values("Idempotency-Key")
	switch len(keys) {
	case 0:
		return "", nil
	case 1:
		return keys[0], validIdempotencyKey(keys[0])
	}
	return "", badRequest(http.StatusBadRequest, "invalid_idempotency_key", "send one Idempotency-Key header, not several")
}

func validIdempotencyKey(k string) error {
	if len(k) > maxIdempotencyKey {
		return badRequest(http.StatusBadRequest, "invalid_idempotency_key", fmt.Sprintf("Idempotency-Key must be at most %d characters", maxIdempotencyKey))
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return badRequest(http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}
