read -r word
echo "OK ${word}"
