package abi

// AppendFloat exposes appendFloat to the tests of package abi_test.
var AppendFloat = appendFloat
