with Ada.Text_IO;         use Ada.Text_IO;
with Ada.Integer_Text_IO; use Ada.Integer_Text_IO;

procedure Main is
   N, X : Integer;
   Sum  : Integer := 0;
begin
   Get (N);
   for I in 1 .. N loop
      Get (X);
      Sum := Sum + X;
   end loop;
   Put (Sum, Width => 0);
   New_Line;
end Main;
