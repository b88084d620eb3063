// Package enum names the values of gondis's small enumerations: a String
// method indexes a table of names with the value, and a value the table
// does not name prints as the type's name and the number.
package enum

import "fmt"

// Name returns names[v], or typ(v) in decimal when names has no name for
// v (v is beyond the table, or its entry is empty).
func Name[T ~uint8 | ~uint32](names []string, v T, typ string) string {
	if uint64(v) < uint64(len(names)) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint64(v))
}
