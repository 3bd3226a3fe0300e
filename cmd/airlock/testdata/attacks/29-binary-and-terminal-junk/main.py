import sys
junk = bytes(range(256)) * 4 + b"\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31mred\x1b[0m\xff\xfe\xc3\x28\r\x00done\n"
sys.stdout.buffer.write(junk)
sys.stderr.buffer.write(junk)
