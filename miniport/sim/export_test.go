package sim

// ParamDoc returns the parameter table's doc lines, for the package doc's
// test.
func ParamDoc() string { return params.Doc() }
