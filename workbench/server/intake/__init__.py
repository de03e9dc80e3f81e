"""How bytes become a stored sample: size and md5 checks, the type_tag guess."""
