import os
data = b'z' * 300000
while data:
    data = data[os.write(1, data):]
