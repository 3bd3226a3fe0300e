program Main;
var
  word: string;
begin
  readln(word);
  writeln('OK ', word);
end.
