public class Main {
	public static void main(String[] a) {
		System.out.println("heap " + (Runtime.getRuntime().maxMemory() >> 20));
		System.out.println("cpus " + Runtime.getRuntime().availableProcessors());
	}
}
