with Ada.Text_IO; use Ada.Text_IO;

procedure Solution is
   package Long_IO is new Ada.Text_IO.Integer_IO (Long_Integer);
   N   : Long_Integer;
   X   : Long_Integer;
   Sum : Long_Integer := 0;
begin
   Long_IO.Get (N);
   for I in 1 .. N loop
      Long_IO.Get (X);
      Sum := Sum + X;
   end loop;
   Long_IO.Put (Sum, Width => 1);
   New_Line;
end Solution;
