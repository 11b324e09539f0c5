# SPDX-License-Identifier: GPL-2.0-or-later
# cmake -DIN=FILE -DOUT=FILE.c -DNAME=NAME -P embed.cmake
# Writes OUT defining `const char NAME[]`: FILE's bytes and a NUL.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from ${IN} by scripts/embed.cmake: do not edit. */\nextern const char ${NAME}[];\nconst char ${NAME}[] = {\n${bytes}0x00 };\n")
