with Ada.Text_IO; use Ada.Text_IO;

procedure Main is
begin
   Put_Line (Undefined_Variable);
end Main;
