module main;
  integer n, x, i, sum, r;

  initial begin
    sum = 0;
    r = $fscanf(32'h8000_0000, "%d", n);
    for (i = 0; i < n; i = i + 1) begin
      r = $fscanf(32'h8000_0000, "%d", x);
      sum = sum + x;
    end
    $display("%0d", sum);
    $finish;
  end
endmodule
