module main;
  reg [8*128-1:0] word;
  integer n;
  initial begin
    n = $fscanf(32'h8000_0000, "%s", word);
    $display("OK %0s", word);
    $finish(0);
  end
endmodule
