{$mode objfpc}{$H+}
program Solution;

uses
  SysUtils;

function SumOf(const A: array of Int64): Int64;
var
  V: Int64;
begin
  Result := 0;
  for V in A do
    Result := Result + V;
end;

var
  N, I: Integer;
  A: array of Int64;
begin
  ReadLn(N);
  SetLength(A, N);
  for I := 0 to N - 1 do
    Read(A[I]);
  WriteLn(SumOf(A));
end.
