package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/domain"
)

// decodeJSON reads exactly one JSON object of at most maxBytes into dst,
// rejecting other media types, unknown fields, wrong types and trailing data.
func decodeJSON(c *gin.Context, maxBytes int64, dst any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return badRequest(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return badRequest(http.StatusBadRequest, "invalid_request", "the body must hold exactly one JSON object")
	}
	return nil
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
