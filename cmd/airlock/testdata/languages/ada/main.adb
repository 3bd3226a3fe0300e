with Ada.Text_IO; use Ada.Text_IO;

procedure Main is
   Word : constant String := Get_Line;
begin
   Put_Line ("OK " & Word);
end Main;
