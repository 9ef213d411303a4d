package update

import (
	"bytes"
	"encoding/json"
	"fmt"
)

func jsonLine(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("update: encode: %w", err)
	}
	return append(data, '\n'), nil
}

func trimNL(b []byte) []byte { return bytes.TrimRight(b, "\r\n ") }
