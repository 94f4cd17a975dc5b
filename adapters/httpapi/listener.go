package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// ProblemListener wraps ln so that the few answers net/http writes by
// itself, before any handler runs, are problem+json like every other
// answer of the API: 431 for headers over the server's MaxHeaderBytes, 400
// for a request line or header net/http cannot parse, 501 for a transfer
// coding it does not know. net/http offers no hook for them; it writes
// each as one plain-text response straight to the connection and closes
// it, so the connection rewrites exactly that shape and passes every
// other write through untouched.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return problemConn{c}, nil
}

type problemConn struct{ net.Conn }

func (c problemConn) Write(p []byte) (int, error) {
	if answer, ok := rewriteServerError(p); ok {
		if _, err := c.Conn.Write(answer); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite lets net/http half-close the connection after an error
// answer, as it does on a bare TCP connection.
func (c problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// serverErrorHeaders follow the status line of every answer net/http
// writes by itself (net/http's conn.serve). A response the server writes
// for a handler never has them right after its status line: it carries a
// Date header, and writes its headers sorted (Connection before
// Content-Type).
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// serverErrors are the problem code and default detail of net/http's own
// answers.
var serverErrors = map[int]struct{ code, detail string }{
	http.StatusBadRequest:                  {"bad_request", "the request could not be parsed as HTTP"},
	http.StatusRequestHeaderFieldsTooLarge: {"headers_too_large", "the request's header fields are larger than the server accepts"},
	http.StatusNotImplemented:              {"not_implemented", "the server does not implement what the request asks"},
}

// rewriteServerError returns the problem+json form of p when p is one of
// net/http's own plain-text error answers.
func rewriteServerError(p []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) || len(p) < len(proto)+3 {
		return nil, false
	}
	i := bytes.Index(p, []byte(serverErrorHeaders))
	if i < 0 || bytes.IndexByte(p[:i], '\n') >= 0 {
		return nil, false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil || status < 400 {
		return nil, false
	}
	known, ok := serverErrors[status]
	if !ok {
		known.code, known.detail = "http_error", http.StatusText(status)
	}
	// The plain body says the status again, with a detail or without:
	// "400 Bad Request: missing required Host header", "431 Request
	// Header Fields Too Large"; 501's is only "Unsupported transfer
	// encoding".
	detail := string(p[i+len(serverErrorHeaders):])
	if rest, ok := strings.CutPrefix(detail, strconv.Itoa(status)+" "+http.StatusText(status)); ok {
		detail = strings.TrimPrefix(rest, ": ")
	}
	if detail == "" {
		detail = known.detail
	}
	body, _ := json.Marshal(newProblem(status, known.code, detail)) // a Problem always marshals
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), ProblemContentType, len(body), body), true
}
